/* vx_audio.h — audio: decoding any file libsox reads into mono f32 records. */
#ifndef VX_AUDIO_H
#define VX_AUDIO_H

#include "vx_io.h"

/* libsox has process-wide state: vx_audio_begin initialises it once per process and installs a
 * message handler that drops its warnings and keeps its last failure for vx_error; vx_audio_end
 * shuts it down. Not for several threads. */
int vx_audio_begin(vx_error *err);
void vx_audio_end(void);
/* Decodes the audio file at path, or the in-memory file data[0..size) when data is non-NULL
 * (path then only names it in messages), as `sox IN -t f32 -r RATE -c 1 - [trim OFFSET DURATION]`
 * would; meta rate= and source=. */
int vx_audio_read(const char *path, const void *data, size_t size, const vx_decode_opts *o, vx_record *r,
                  vx_error *err);

#endif
