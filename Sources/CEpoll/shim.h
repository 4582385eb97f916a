// SPDX-License-Identifier: MIT
// Linux's epoll, which Glibc's Swift module leaves out: the AudioSocket transport polls its
// sockets itself (Sources/AudioBridgeServer/AudioSocket/AudioSocketPoller.swift).
#include <sys/epoll.h>
