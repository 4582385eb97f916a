/* SPDX-License-Identifier: MIT */
/* The plain-C baseline for the frame-path benchmarks: the steps of FullDuplexFramePipeline
 * (AudioBridgeTestSupport) written as a C host would write them without AudioBridge. */
#ifndef AUDIOBRIDGE_REFERENCE_PIPELINE_H
#define AUDIOBRIDGE_REFERENCE_PIPELINE_H
#include <stdint.h>

typedef struct reference_pipeline reference_pipeline;

/** Creates the pipeline with SpeexDSP resamplers at `quality`; NULL on failure. */
reference_pipeline *reference_pipeline_create(int quality);
void reference_pipeline_destroy(reference_pipeline *pipeline);

/** One 20 ms frame both ways: 160 μ-law bytes in, 160 μ-law bytes out; returns bytes out. */
int reference_pipeline_process_frame(reference_pipeline *pipeline, const uint8_t *caller, uint8_t *heard);

/** The single stages, for per-stage comparison. */
void reference_ulaw_decode(const uint8_t *in, int count, int16_t *out);
void reference_ulaw_encode(const int16_t *in, int count, uint8_t *out);
#endif
