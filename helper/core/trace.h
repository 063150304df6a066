/*
 * The -v trace. The core calls trace() at each step; the command line
 * decides where the lines go (stderr) by installing a sink. Callers must
 * pass secrets through mt_fingerprint before they reach a trace line.
 */
#ifndef CORE_TRACE_H
#define CORE_TRACE_H

typedef void trace_sink_fn(const char *line);

/* Installs the sink; NULL turns tracing off (the default). */
void trace_set_sink(trace_sink_fn *sink);

/* Returns 1 when a sink is installed. */
int trace_enabled(void);

/* Formats one line (without newline) and hands it to the sink, if any. */
void trace(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
