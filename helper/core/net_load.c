/* Loading the network module on first use. */
#include "net.h"

#include <dlfcn.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "assertion.h"

#ifndef MAILTOKEN_PKGLIBDIR
#define MAILTOKEN_PKGLIBDIR "/usr/local/lib/mailtoken"
#endif

#define NET_MODULE "mailtoken-net.so"

static const struct net_ops *loaded;
static const struct assertion_ops *assertion_loaded;
static void *module;
static char module_path[PATH_MAX + sizeof(NET_MODULE) + 1];

void
net_override(const struct net_ops *ops)
{
    loaded = ops;
}

void
assertion_override(const struct assertion_ops *ops)
{
    assertion_loaded = ops;
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

/* Opens mailtoken-net.so once; module_path names the file, for messages. */
static void *
open_module(struct mt_err *err)
{
    char dir[PATH_MAX], *path = module_path;
    size_t size = sizeof(module_path);
    void *handle = NULL;

    if (module != NULL)
        return module;
    snprintf(path, size, "%s/%s", MAILTOKEN_PKGLIBDIR, NET_MODULE);
    /* The build tree's module beside the program wins; a broken one is reported, not skipped. */
    if (program_dir(dir, sizeof(dir)) == 0) {
        snprintf(path, size, "%s/%s", dir, NET_MODULE);
        if (access(path, R_OK) == 0)
            handle = dlopen(path, RTLD_NOW | RTLD_LOCAL);
        else
            snprintf(path, size, "%s/%s", MAILTOKEN_PKGLIBDIR, NET_MODULE);
    }
    if (handle == NULL && strncmp(path, MAILTOKEN_PKGLIBDIR "/", strlen(MAILTOKEN_PKGLIBDIR) + 1) == 0)
        handle = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (handle == NULL) {
        err_set(err, EX_SOFTWARE, "cannot load the network module %s: %s; reinstall mailtoken",
                path, dlerror());
        return NULL;
    }
    module = handle;
    return module;
}

const struct net_ops *
net_load(struct mt_err *err)
{
    const struct net_ops *(*entry)(void);
    const struct net_ops *ops;
    void *handle;

    if (loaded != NULL)
        return loaded;
    handle = open_module(err);
    if (handle == NULL)
        return NULL;
    *(void **)&entry = dlsym(handle, "mailtoken_net_ops");
    if (entry == NULL || (ops = entry()) == NULL || ops->abi_version != NET_ABI_VERSION) {
        err_set(err, EX_SOFTWARE,
                "%s does not match this mailtoken (wrong version): reinstall mailtoken",
                module_path);
        return NULL;
    }
    loaded = ops;
    return ops;
}

const struct assertion_ops *
assertion_load(struct mt_err *err)
{
    const struct assertion_ops *(*entry)(void);
    const struct assertion_ops *ops;
    void *handle;

    if (assertion_loaded != NULL)
        return assertion_loaded;
    handle = open_module(err);
    if (handle == NULL)
        return NULL;
    *(void **)&entry = dlsym(handle, "mailtoken_assertion_ops");
    if (entry == NULL || (ops = entry()) == NULL || ops->abi_version != ASSERTION_ABI_VERSION) {
        err_set(err, EX_SOFTWARE,
                "%s does not match this mailtoken (no client assertions, or the wrong version): "
                "reinstall mailtoken", module_path);
        return NULL;
    }
    assertion_loaded = ops;
    return ops;
}
