/* The -v trace. */
#include "trace.h"

#include <stdarg.h>
#include <stdio.h>

static trace_sink_fn *trace_sink;

void
trace_set_sink(trace_sink_fn *sink)
{
    trace_sink = sink;
}

int
trace_enabled(void)
{
    return trace_sink != NULL;
}

void
trace(const char *fmt, ...)
{
    char line[2048];
    va_list ap;

    if (trace_sink == NULL)
        return;
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    for (char *p = line; *p != '\0'; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            *p = '?';
    trace_sink(line);
}
