/* A program that prints a line and is merely linked to libcurl. */
#include <stdio.h>

#include <curl/curl.h>

int
main(void)
{
    /* One call, so that the linker keeps libcurl as a dependency. */
    if (curl_version() == NULL)
        return 1;
    puts("eyJ0eXAiOiJKV1QifQ.curl");
    return 0;
}
