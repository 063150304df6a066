/*
 * Runs a fuzz target on files, for builds without libFuzzer: each
 * argument is a file or a folder of files, fed to LLVMFuzzerTestOneInput
 * once each. The ctest regression tests run the seed corpus and every
 * saved crash this way in the normal and the sanitizer build.
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int
run_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    uint8_t *data;
    long size;

    if (f == NULL || fseek(f, 0, SEEK_END) != 0 || (size = ftell(f)) < 0 ||
        fseek(f, 0, SEEK_SET) != 0) {
        fprintf(stderr, "cannot read %s\n", path);
        if (f != NULL)
            fclose(f);
        return -1;
    }
    data = malloc((size_t)size + 1);
    if (data == NULL || fread(data, 1, (size_t)size, f) != (size_t)size) {
        fprintf(stderr, "cannot read %s\n", path);
        free(data);
        fclose(f);
        return -1;
    }
    fclose(f);
    LLVMFuzzerTestOneInput(data, (size_t)size);
    free(data);
    return 0;
}

int
main(int argc, char **argv)
{
    int files = 0;

    for (int i = 1; i < argc; i++) {
        struct stat sb;
        DIR *dir;
        struct dirent *e;

        if (stat(argv[i], &sb) != 0) {
            fprintf(stderr, "%s does not exist\n", argv[i]);
            return 1;
        }
        if (!S_ISDIR(sb.st_mode)) {
            if (run_file(argv[i]) != 0)
                return 1;
            files++;
            continue;
        }
        dir = opendir(argv[i]);
        while (dir != NULL && (e = readdir(dir)) != NULL) {
            char path[4096];

            if (e->d_name[0] == '.')
                continue;
            snprintf(path, sizeof(path), "%s/%s", argv[i], e->d_name);
            if (run_file(path) != 0) {
                closedir(dir);
                return 1;
            }
            files++;
        }
        if (dir != NULL)
            closedir(dir);
    }
    printf("%d inputs ran without a crash\n", files);
    /* An empty corpus proves nothing: count it as a failure. */
    return files > 0 ? 0 : 1;
}
