// SPDX-License-Identifier: MIT
// The SpeexDSP resampler, from the distribution's libspeexdsp (pkg-config speexdsp).
#ifndef AUDIOBRIDGE_CSPEEXDSP_SHIM_H
#define AUDIOBRIDGE_CSPEEXDSP_SHIM_H
#include <speex/speex_resampler.h>
#endif
