// SPDX-License-Identifier: MIT
// A cache prefetch hint, which Swift has no spelling for (AudioBridgeCore/HotMemory.swift).
// Header only: nothing to link, nothing exported.
#include <malloc.h>

/// Asks for the cache line holding `address` (read, keep in every level). Never faults.
static inline void ab_prefetch_line(const void *address) { __builtin_prefetch(address, 0, 3); }
