/* Loading the network module on first use. */
#include "net.h"

#include <dlfcn.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#ifndef MAILTOKEN_PKGLIBDIR
#define MAILTOKEN_PKGLIBDIR "/usr/local/lib/mailtoken"
#endif

#define NET_MODULE "mailtoken-net.so"

static const struct net_ops *loaded;

void
net_override(const struct net_ops *ops)
{
    loaded = ops;
}

/* Writes the folder of the running program into dir. */
static int
program_dir(char *dir, size_t size)
{
    ssize_t n = readlink("/proc/self/exe", dir, size - 1);
    char *slash;

    if (n <= 0)
        return -1;
    dir[n] = '\0';
    slash = strrchr(dir, '/');
    if (slash == NULL)
        return -1;
    *slash = '\0';
    return 0;
}

const struct net_ops *
net_load(struct mt_err *err)
{
    char dir[PATH_MAX], path[PATH_MAX + sizeof(NET_MODULE) + 1];
    const struct net_ops *(*entry)(void);
    const struct net_ops *ops;
    void *handle = NULL;

    if (loaded != NULL)
        return loaded;
    /* The build tree's module beside the program wins; a broken one is reported, not skipped. */
    if (program_dir(dir, sizeof(dir)) == 0) {
        snprintf(path, sizeof(path), "%s/%s", dir, NET_MODULE);
        if (access(path, R_OK) == 0)
            handle = dlopen(path, RTLD_NOW | RTLD_LOCAL);
        else
            snprintf(path, sizeof(path), "%s/%s", MAILTOKEN_PKGLIBDIR, NET_MODULE);
    }
    if (handle == NULL && strncmp(path, MAILTOKEN_PKGLIBDIR "/", strlen(MAILTOKEN_PKGLIBDIR) + 1) == 0)
        handle = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (handle == NULL) {
        err_set(err, EX_SOFTWARE, "cannot load the network module %s: %s; reinstall mailtoken",
                path, dlerror());
        return NULL;
    }
    *(void **)&entry = dlsym(handle, "mailtoken_net_ops");
    if (entry == NULL || (ops = entry()) == NULL || ops->abi_version != NET_ABI_VERSION) {
        err_set(err, EX_SOFTWARE,
                "%s does not match this mailtoken (wrong version): reinstall mailtoken", path);
        dlclose(handle);
        return NULL;
    }
    loaded = ops;
    return ops;
}
