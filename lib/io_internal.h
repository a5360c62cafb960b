/* io_internal.h — private to libvx and its tests: the image readers behind the decoder. */
#ifndef VX_IO_INTERNAL_H
#define VX_IO_INTERNAL_H

#include "vx_io.h"

/* Read one image from f into r's shape, payload and `source` metadata (key and label are the
 * caller's). `where` names the input in messages. 16-bit samples are rounded to 8 bits first;
 * alpha is dropped, colours are taken as stored. libnetpbm reports errors through process-wide
 * hooks, which vx_pnm_read installs and restores around each call: do not call it from two
 * threads at once. */
int vx_png_read(FILE *f, const char *where, const vx_decode_opts *o, vx_record *r, vx_error *err);
int vx_pnm_read(FILE *f, const char *where, const vx_decode_opts *o, vx_record *r, vx_error *err);

#endif
