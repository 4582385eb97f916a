// SPDX-License-Identifier: MIT
// zlib (zlib1g-dev, pkg-config zlib): raw deflate for WebSocket permessage-deflate (RFC 7692).
#ifndef AUDIOBRIDGE_CZLIB_SHIM_H
#define AUDIOBRIDGE_CZLIB_SHIM_H
#include <zlib.h>
#endif
