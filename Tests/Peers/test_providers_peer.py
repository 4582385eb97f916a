# SPDX-License-Identifier: MIT
"""Other voice-model providers behind the same agent, against the Realtime model stand-in and the
independent Twilio peer of test_twilio_peer: what reaches the provider (path, query, headers,
events) and what the caller hears back."""
import asyncio
import json

import pytest

from peers import BIN, listening_port, running
from test_twilio_peer import FRAME, SILENCE, SPEECH, read_events, twilio_stream


@pytest.mark.parametrize("api_version", [None, "2025-04-01-preview"])
def test_an_azure_openai_deployment(tmp_path, api_version):
    """--agent azure: the deployment's URL (GA path, or the preview path with its API version and
    the beta protocol), the key in an api-key header and no Authorization, the deployment as the
    model; the caller's audio reaches the model and its answer reaches the caller."""
    events_file = tmp_path / "model-events.jsonl"
    with running([BIN / "realtime-standin", "--reply-ms", "1000", "--events", events_file]) as model:
        port = int(model.wait_for(r"listening on ws://127\.0\.0\.1:(\d+)").group(1))
        arguments = [BIN / "audiobridge", "serve", "--twilio", "127.0.0.1:0", "--agent", "azure",
                     "--azure-endpoint", f"http://127.0.0.1:{port}", "--azure-deployment", "my-realtime", "--log-level", "warning"]
        if api_version:
            arguments += ["--azure-api-version", api_version]
        with running(arguments, env={"AZURE_OPENAI_API_KEY": "az-peer-key"}) as bridge:
            caller = SPEECH[:26 * FRAME] + SILENCE * (120 * FRAME)
            got = asyncio.run(twilio_stream(f"ws://127.0.0.1:{listening_port(bridge, 'Twilio')}/twilio/media", caller, 146, {}))
    lines = [json.loads(line) for line in events_file.read_text().splitlines() if line.strip()]
    upgrades = [line["event"] for line in lines if line["event"]["type"] == "_upgrade"]
    assert len(upgrades) == 1, upgrades
    expected = ("/openai/realtime?api-version=2025-04-01-preview&deployment=my-realtime" if api_version
                else "/openai/v1/realtime?model=my-realtime")
    assert upgrades[0]["target"] == expected
    assert upgrades[0]["headers"].get("api-key") == "az-peer-key" and "authorization" not in upgrades[0]["headers"]
    assert (upgrades[0]["headers"].get("openai-beta") == "realtime=v1") == bool(api_version)
    events = read_events(events_file)
    update = next(e for e in events if e.get("type") == "session.update")["session"]
    if api_version:  # the beta names
        assert update["input_audio_format"] == "g711_ulaw", update
    else:
        assert update["audio"]["input"]["format"]["type"] == "audio/pcmu", update
    appended = sum(e["audio_bytes"] for e in events if e.get("type") == "input_audio_buffer.append")
    assert appended >= 140 * FRAME, appended
    # The stand-in's 1 s answer, after the caller's words, reached the caller.
    answer = [s for s in got["received"] if abs(s) > 1000]
    assert len(answer) > 4000, len(answer)
