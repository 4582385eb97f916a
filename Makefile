# SPDX-License-Identifier: MIT
# The two set-up commands: `make run` and `make test` (see README.md). Both install missing
# system packages first (scripts/install-deps.sh).

SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
SWIFT ?= swift
PREFIX ?= /usr/local
VERSION := 0.1.0
ABI := 1

RELEASE_BUILD := .build-release
TSAN_BUILD := .build-tsan
STAGE := $(CURDIR)/.build-stage
LIB := $(RELEASE_BUILD)/release/libAudioBridgeCABI.so
C_STRICT := -std=c11 -Wall -Wextra -Werror -pedantic
STAGE_PKG := PKG_CONFIG_PATH=$(STAGE)/lib/pkgconfig pkg-config

.PHONY: deps lib install stage run demo test test-swift test-release test-tsan test-c test-python test-peers test-bench test-fuzz fuzz bench bench-ratio clean

deps:
	@scripts/install-deps.sh

# The self-contained C ABI library (release build).
lib: deps
	$(SWIFT) build -c release --scratch-path $(RELEASE_BUILD) --product AudioBridgeCABI

# Installs the header, the stripped library (real name, SONAME link, dev link) and audiobridge.pc.
install: lib
	install -d $(DESTDIR)$(PREFIX)/include $(DESTDIR)$(PREFIX)/lib/pkgconfig
	install -m 644 include/audiobridge.h $(DESTDIR)$(PREFIX)/include/audiobridge.h
	install -m 755 -s $(LIB) $(DESTDIR)$(PREFIX)/lib/libaudiobridge.so.$(VERSION)
	ln -sf libaudiobridge.so.$(VERSION) $(DESTDIR)$(PREFIX)/lib/libaudiobridge.so.$(ABI)
	ln -sf libaudiobridge.so.$(ABI) $(DESTDIR)$(PREFIX)/lib/libaudiobridge.so
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@VERSION@|$(VERSION)|' bindings/c/audiobridge.pc.in > $(DESTDIR)$(PREFIX)/lib/pkgconfig/audiobridge.pc

# An install into the build tree, used by the C tests and the demo.
stage:
	$(MAKE) --no-print-directory install PREFIX=$(STAGE)

# The main job: the bridge server with the built-in echo agent, on loopback. Point Asterisk's
# AudioSocket(uuid,127.0.0.1:9092) at it, or call it with
#   .build-release/release/audiobridge call --play samples/caller-ulaw-8k.wav --record out/heard.wav
run: deps
	$(SWIFT) build -c release --scratch-path $(RELEASE_BUILD) --product audiobridge
	$(RELEASE_BUILD)/release/audiobridge serve --audiosocket 127.0.0.1:9092 --agent echo

# The DSP through the C ABI, then a whole call in a C host against the echo agent.
demo: stage
	cc $(C_STRICT) -o $(STAGE)/transcode_demo bindings/c/transcode_demo.c $$($(STAGE_PKG) --cflags --libs audiobridge) -lm
	cc $(C_STRICT) -o $(STAGE)/example_host bindings/c/example_host.c $$($(STAGE_PKG) --cflags --libs audiobridge) -lm
	mkdir -p out
	LD_LIBRARY_PATH=$(STAGE)/lib $(STAGE)/transcode_demo samples/caller-ulaw-8k.wav out
	LD_LIBRARY_PATH=$(STAGE)/lib $(STAGE)/example_host samples/caller-ulaw-8k.wav out/heard-echo.wav echo

test: deps test-swift test-release test-tsan test-bench test-c test-python test-peers test-fuzz

# Every Swift test, debug build, one suite at a time: the suites that run paced calls over
# loopback measure time, and with every suite at once on 2 cores a debug build starved them
# (idle timeouts, late frames); one at a time the run takes about 2 minutes. The load test, the
# detector's corpus and long echo paths, the allocation runs (session, RTP endpoint, call
# pipeline, adapters, prefetch lists) and the heavy fuzz suites (…FuzzTests) go on the release
# build below: in debug each takes a core for seconds.
test-swift:
	$(SWIFT) build --build-tests
	$(SWIFT) test --no-parallel --skip AudioSocketLoad --skip CallerSpeechQuality --skip LongEchoPath --skip SessionAllocation --skip RTPEndpointAllocation --skip PipelineAllocation --skip AdapterAllocation --skip HotMemoryAllocation --skip FuzzTests

# The zero-allocation tests (-enable-testing: the call pipeline's are @testable), the 100-call
# load test, the barge-in detector's quality floors on the labelled corpus and on echo paths up to 600 ms, and the heavy fuzz suites, on
# the release build that ships.
test-release:
	$(SWIFT) test -c release --scratch-path $(RELEASE_BUILD) -Xswiftc -enable-testing --filter 'Allocation|AudioSocketLoad|CallerSpeechQuality|LongEchoPath|FuzzTests'

# The ring, and sessions driven by the engine's own I/O thread, under ThreadSanitizer.
test-tsan:
	TSAN_OPTIONS=halt_on_error=1 $(SWIFT) test --sanitize=thread --scratch-path $(TSAN_BUILD) --filter 'SPSCRingTests|engineThreadDrivesTransportsOnItsOwn|aSwiftServerRunsACallInAFewLines'

# The C ABI from C: the installed library through pkg-config, its exports, the header as C++, and
# SRTP against libsrtp2 (the SRTP library of Asterisk and FreeSWITCH).
test-c: stage
	bindings/c/check-exports.sh $(STAGE)/lib/libaudiobridge.so.$(ABI)
	c++ -std=c++11 -Wall -Wextra -Werror -pedantic -fsyntax-only -x c++ include/audiobridge.h
	cc $(C_STRICT) -o $(STAGE)/abi_check bindings/c/abi_check.c $$($(STAGE_PKG) --cflags --libs audiobridge) -lm -ldl
	LD_LIBRARY_PATH=$(STAGE)/lib $(STAGE)/abi_check Tests/Vectors/g711 $(STAGE)/lib/libaudiobridge.so.$(ABI)
	cc $(C_STRICT) -o $(STAGE)/session_check bindings/c/session_check.c $$($(STAGE_PKG) --cflags --libs audiobridge) -lm
	LD_LIBRARY_PATH=$(STAGE)/lib $(STAGE)/session_check
	cc $(C_STRICT) -o $(STAGE)/growth_check bindings/c/growth_check.c $$($(STAGE_PKG) --cflags --libs audiobridge)
	LD_LIBRARY_PATH=$(STAGE)/lib $(STAGE)/growth_check
	cc -std=c11 -Wall -Wextra -Werror -o $(STAGE)/realtime_check bindings/c/realtime_check.c $$($(STAGE_PKG) --cflags --libs audiobridge) -lm -ldl -lpthread
	LD_LIBRARY_PATH=$(STAGE)/lib $(STAGE)/realtime_check
	cc $(C_STRICT) -o $(STAGE)/srtp_interop bindings/c/srtp_interop.c $$($(STAGE_PKG) --cflags --libs audiobridge libsrtp2)
	LD_LIBRARY_PATH=$(STAGE)/lib $(STAGE)/srtp_interop
	cc $(C_STRICT) -o $(STAGE)/example_host bindings/c/example_host.c $$($(STAGE_PKG) --cflags --libs audiobridge) -lm
	LD_LIBRARY_PATH=$(STAGE)/lib bindings/c/test_example_host.sh $(STAGE)/example_host samples/caller-ulaw-8k.wav $(STAGE)/example-host

# The Python ctypes binding against the staged library.
test-python: stage
	AUDIOBRIDGE_LIBRARY=$(STAGE)/lib/libaudiobridge.so.$(ABI) python3 -m pytest -q bindings/python/tests

# The release server and the model stand-in as processes, against independent peers written in
# Python from the protocol documents (websockets in Twilio's role, …), and ffmpeg as an RTP peer.
test-peers: deps
	$(SWIFT) build -c release --scratch-path $(RELEASE_BUILD) --product audiobridge
	$(SWIFT) build -c release --scratch-path $(RELEASE_BUILD) --product realtime-standin
	AUDIOBRIDGE_BIN_DIR=$(RELEASE_BUILD)/release python3 -m pytest -q Tests/Peers

# Every benchmark once, briefly, so none can rot (figures from this run mean nothing).
# Coverage-guided fuzzing of every decoder (Fuzz/, libFuzzer + AddressSanitizer): `make fuzz
# SECONDS=N` runs each target N seconds; `make test` runs each for 10.
SECONDS ?= 60
fuzz: deps
	scripts/fuzz.sh $(SECONDS)

test-fuzz: deps
	scripts/fuzz.sh 10

test-bench:
	cd Benchmarks && AB_BENCH_SMOKE=1 $(SWIFT) package --allow-writing-to-package-directory benchmark --no-progress --quiet

# Benchmarks (ordo-one/benchmark): each stage and the full-duplex frame, with the plain-C
# reference measured in the same run.
bench: deps
	cd Benchmarks && $(SWIFT) package --allow-writing-to-package-directory benchmark --no-progress

# The headline figure: Swift/C cost of the full-duplex frame (instructions and wall clock).
bench-ratio: deps
	Benchmarks/ratio.py 3 2000

clean:
	rm -rf .build $(RELEASE_BUILD) $(TSAN_BUILD) $(STAGE) out Benchmarks/.build
