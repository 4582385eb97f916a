# SPDX-License-Identifier: MIT
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
# The staged library from `make stage`, unless the caller points elsewhere.
os.environ.setdefault("AUDIOBRIDGE_LIBRARY", str(ROOT / ".build-stage" / "lib" / "libaudiobridge.so.1"))
