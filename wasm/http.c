/*
 * wasm/http.c: llhttp (llhttp-src/) run over a buffer, for the HTTP/1.1
 * response parser in bindings/src/http/. One call parses what arrived and
 * records what it found in a static event array that JS reads once per call:
 * no JS callback per header or body chunk, and no copy of the body (events
 * are spans of the input, which JS still holds).
 *
 * An event is four uint32: kind, offset, length, value (see shim.h). The
 * parser stops (llhttp's HPE_PAUSED) after the final response's last byte,
 * so bytes after it are never taken for the next response; interim (1xx)
 * responses are recorded and parsing goes on. The limits on header bytes and
 * count are enforced here, as Node's own http parser binding does, so an
 * oversized head is refused before it is buffered whole.
 */
#include <stdlib.h>
#include <string.h>
#include "llhttp.h"
#include "shim.h"

/* At most one event per two bytes of input (the smallest chunk, "1\r\nX\r\n",
 * gives one body span; the smallest header line "a:\r\n" two events) plus a
 * few for spans cut at the end of the input: JS passes at most
 * OW_HTTP_MAX_INPUT bytes per call, so the array cannot overflow. */
#define OW_HTTP_MAX_EVENTS (OW_HTTP_MAX_INPUT / 2 + 16)
static unsigned int events[OW_HTTP_MAX_EVENTS * 4];

/* shim.h's copies of llhttp's values, which JS reads from the generated constants. */
_Static_assert(OW_HTTP_F_CHUNKED == F_CHUNKED && OW_HTTP_F_CONTENT_LENGTH == F_CONTENT_LENGTH &&
               OW_HTTP_F_TRANSFER_ENCODING == F_TRANSFER_ENCODING, "llhttp flags");
_Static_assert(OW_HTTP_OK == HPE_OK && OW_HTTP_PAUSED == HPE_PAUSED && OW_HTTP_USER == HPE_USER, "llhttp errno");
static size_t event_count;
static const char *input;

struct ow_http {
  llhttp_t parser;      /* first: the callbacks cast llhttp_t * to ow_http * */
  int head;             /* a HEAD request: the response has no body */
  uint32_t max_header_bytes, max_headers;
  uint32_t header_bytes, headers;
  int final;            /* the message being parsed is the final response */
  const char *refusal;  /* the limit that stopped the parser, if one did */
};

/* Stops the parser: llhttp turns a non-span callback's error into its own
 * HPE_CB_* code and reason, so ours is kept aside and reported as HPE_USER. */
static int refuse(llhttp_t *p, const char *reason) {
  ((ow_http *)p)->refusal = reason;
  return HPE_USER;
}

static int record(llhttp_t *p, uint32_t kind, uint32_t offset, uint32_t length, uint32_t value) {
  if (event_count == OW_HTTP_MAX_EVENTS) return refuse(p, "event array full");
  unsigned int *e = &events[event_count++ * 4];
  e[0] = kind; e[1] = offset; e[2] = length; e[3] = value;
  return 0;
}

/* Status line and header bytes, against the limit. */
static int head_span(llhttp_t *p, uint32_t kind, const char *at, size_t length) {
  ow_http *h = (ow_http *)p;
  h->header_bytes += length;
  if (h->header_bytes > h->max_header_bytes) return refuse(p, "header overflow");
  return record(p, kind, at - input, length, 0);
}

static int on_message_begin(llhttp_t *p) {
  ow_http *h = (ow_http *)p;
  h->header_bytes = 0;
  h->headers = 0;
  h->final = 0;
  return 0;
}
static int on_status(llhttp_t *p, const char *at, size_t n) { return head_span(p, OW_HTTP_STATUS, at, n); }
static int on_header_field(llhttp_t *p, const char *at, size_t n) { return head_span(p, OW_HTTP_FIELD, at, n); }
static int on_header_value(llhttp_t *p, const char *at, size_t n) { return head_span(p, OW_HTTP_VALUE, at, n); }
static int on_header_value_complete(llhttp_t *p) {
  ow_http *h = (ow_http *)p;
  if (++h->headers > h->max_headers) return refuse(p, "too many headers");
  return record(p, OW_HTTP_HEADER_END, 0, 0, 0);
}
static int on_headers_complete(llhttp_t *p) {
  ow_http *h = (ow_http *)p;
  int status = p->status_code;
  h->final = status >= 200 || status == 101;
  int r = record(p, OW_HTTP_HEADERS_COMPLETE, status, p->flags,
                 (uint32_t)p->http_major << 8 | p->http_minor | (uint32_t)p->upgrade << 16);
  if (r) return r;
  /* A response to HEAD has no body whatever its headers say (RFC 9110 9.3.2). */
  return h->final && h->head ? 1 : 0;
}
static int on_body(llhttp_t *p, const char *at, size_t n) { return record(p, OW_HTTP_BODY, at - input, n, 0); }
static int on_message_complete(llhttp_t *p) {
  ow_http *h = (ow_http *)p;
  if (record(p, OW_HTTP_MESSAGE_COMPLETE, 0, 0, llhttp_should_keep_alive(p))) return HPE_USER;
  return h->final ? HPE_PAUSED : 0;
}

static const llhttp_settings_t settings = {
  .on_message_begin = on_message_begin,
  .on_status = on_status,
  .on_header_field = on_header_field,
  .on_header_value = on_header_value,
  .on_header_value_complete = on_header_value_complete,
  .on_headers_complete = on_headers_complete,
  .on_body = on_body,
  .on_message_complete = on_message_complete,
};

ow_http *ow_http_new(void) {
  ow_http *h = calloc(1, sizeof *h);
  if (h) llhttp_init(&h->parser, HTTP_RESPONSE, &settings);
  return h;
}

void ow_http_free(ow_http *h) { free(h); }

void ow_http_start(ow_http *h, int head, unsigned int max_header_bytes, unsigned int max_headers) {
  llhttp_reset(&h->parser);
  h->head = head;
  h->max_header_bytes = max_header_bytes;
  h->max_headers = max_headers;
  h->header_bytes = h->headers = 0;
  h->final = 0;
  h->refusal = NULL;
}

int ow_http_execute(ow_http *h, const char *data, size_t length) {
  event_count = 0;
  input = data;
  if (length > OW_HTTP_MAX_INPUT) return refuse(&h->parser, "input longer than OW_HTTP_MAX_INPUT");
  int r = llhttp_execute(&h->parser, data, length);
  return h->refusal ? HPE_USER : r;
}

int ow_http_finish(ow_http *h) {
  event_count = 0;
  input = NULL;
  int r = llhttp_finish(&h->parser);
  return h->refusal ? HPE_USER : r;
}

size_t ow_http_consumed(ow_http *h) {
  const char *pos = llhttp_get_error_pos(&h->parser);
  return pos && input ? (size_t)(pos - input) : 0;
}

const char *ow_http_reason(ow_http *h) {
  return h->refusal ? h->refusal : llhttp_get_error_reason(&h->parser);
}

const char *ow_http_error_name(int code) { return llhttp_errno_name((llhttp_errno_t)code); }

unsigned int *ow_http_events(void) { return events; }

size_t ow_http_event_count(void) { return event_count; }
