/* tsnix-helper --serve: a small process that starts sandbox helpers for the driver. */
#ifndef TSNIX_SERVE_H
#define TSNIX_SERVE_H

int serve(void);

#endif
