# SPDX-License-Identifier: MIT
"""Other voice-model providers behind the same agent, against the Realtime model stand-in and the
independent Twilio peer of test_twilio_peer: what reaches the provider (path, query, headers,
events) and what the caller hears back."""
import asyncio
import json

import pytest

from deepgram_standin import DeepgramStandIn
from elevenlabs_standin import ElevenLabsStandIn
from gemini_standin import GeminiStandIn
from peers import BIN, listening_port, loud_frames, running, ulaw_decode
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


def provider_call(standin, agent: str, path: str, env: dict, caller: bytes, frames: int, extra: list = None) -> dict:
    """One Twilio call through `serve --agent AGENT` to `standin` (started and stopped here, in
    the same asyncio loop as the Twilio peer)."""
    async def main():
        await standin.start()
        try:
            with running([BIN / "audiobridge", "serve", "--twilio", "127.0.0.1:0", "--agent", agent,
                          "--agent-url", f"ws://127.0.0.1:{standin.port}{path}", "--log-level", "warning"] + (extra or []),
                         env=env) as bridge:
                port = listening_port(bridge, "Twilio")
                got = await twilio_stream(f"ws://127.0.0.1:{port}/twilio/media", caller, frames, {"caller": "+14155550100"})
                got["log"] = bridge
                return got
        finally:
            await standin.stop()
    return asyncio.run(main())


def deepgram_call(standin, caller: bytes, frames: int, extra: list = None) -> dict:
    return provider_call(standin, "deepgram", "/v1/agent/converse", {"DEEPGRAM_API_KEY": "dg-peer-key"}, caller, frames, extra)


def elevenlabs_call(standin, caller: bytes, frames: int, extra: list = None) -> dict:
    return provider_call(standin, "elevenlabs", "/v1/convai/conversation?agent_id=agent_peer", {"ELEVENLABS_API_KEY": "xi-peer-key"},
                         caller, frames, ["--elevenlabs-format", standin.audio_format] + (extra or []))


def gemini_call(standin, caller: bytes, frames: int, extra: list = None) -> dict:
    return provider_call(standin, "gemini", "/ws/google.ai.generativelanguage.v1beta.GenerativeService.BidiGenerateContent",
                         {"GEMINI_API_KEY": "gm-peer-key"}, caller, frames, extra)


def heard_run(received: list, answer: bytes) -> int:
    """How many samples of `answer` (μ-law) the caller heard from its start, in one run."""
    samples = [ulaw_decode(b) for b in answer]
    start = next((i for i in range(len(received) - 8) if received[i:i + 8] == samples[:8]), None)
    if start is None:
        return 0
    count = 0
    while count < len(samples) and start + count < len(received) and received[start + count] == samples[count]:
        count += 1
    return count


def test_deepgram_mulaw_both_ways_and_a_long_answer_sent_at_once():
    """μ-law straight through both ways; the Token header; a 4 s answer sent in one second is
    heard whole (back-pressure, nothing dropped)."""
    standin = DeepgramStandIn(reply_ms=4000)
    caller = SPEECH[:26 * FRAME] + SILENCE * (300 * FRAME)
    got = deepgram_call(standin, caller, 326)
    connection = standin.connections[0]
    assert connection["path"] == "/v1/agent/converse" and connection["headers"].get("authorization") == "Token dg-peer-key"
    settings = connection["messages"][0]
    assert settings["audio"]["input"] == {"encoding": "mulaw", "sample_rate": 8000}
    assert settings["audio"]["output"]["encoding"] == "mulaw" and settings["audio"]["output"]["sample_rate"] == 8000
    assert "caller=+14155550100" in settings["agent"]["think"]["prompt"]
    assert [f["name"] for f in settings["agent"]["think"]["functions"]] == ["end_call"]
    assert bytes(connection["audio"][:26 * FRAME]) == caller[:26 * FRAME], "the caller's μ-law, byte for byte"
    assert len(connection["audio"]) >= 320 * FRAME
    assert heard_run(got["received"], standin.answers_sent[0][1]) == 4 * 8000, "all of the answer, sample for sample"
    assert got["clears"] == []


@pytest.mark.parametrize("who", ["deepgram", "our detector"])
def test_deepgram_barge_in(who):
    """The caller talks over a 3 s answer. deepgram: its UserStartedSpeaking cuts playout (our
    detector off). our detector: Deepgram says nothing; our barge-in cuts playout and the rest of
    the answer is not played. Either way Twilio gets one clear and the answer stops."""
    standin = DeepgramStandIn(reply_ms=3000, interrupt=(who == "deepgram"))
    caller = SPEECH[:26 * FRAME] + SILENCE * (70 * FRAME) + SPEECH[36 * FRAME:56 * FRAME] + SILENCE * (120 * FRAME)
    got = deepgram_call(standin, caller, 236, ["--no-barge-in"] if who == "deepgram" else [])
    assert standin.interruptions == (1 if who == "deepgram" else 0)
    assert len(got["clears"]) == 1, got["clears"]
    heard = heard_run(got["received"], standin.answers_sent[0][1])
    print(f"{who}: {heard / 8:.0f} ms of the 3,000 ms answer heard")
    assert 200 * 8 < heard < 2500 * 8
    # Nothing of the rest of the cut answer is played later (Deepgram sent all of it at once).
    rest = [ulaw_decode(b) for b in standin.answers_sent[0][1][heard + 2000:heard + 2016]]
    assert not any(got["received"][i:i + 16] == rest for i in range(len(got["received"]) - 16))


def test_deepgram_end_call_after_the_goodbye():
    """The model calls end_call: the bridge answers it, Deepgram says goodbye, and the call ends
    once the goodbye has been heard whole."""
    standin = DeepgramStandIn(reply_ms=1000, tool_call=("end_call", '{"reason":"done"}'))
    caller = SPEECH[:26 * FRAME] + SILENCE * (300 * FRAME)
    got = deepgram_call(standin, caller, 326)
    responses = [m for _, m in standin.messages("FunctionCallResponse")]
    assert len(responses) == 1 and responses[0]["id"] == "fc_standin_1" and responses[0]["name"] == "end_call"
    assert json.loads(responses[0]["content"])["ok"] is True
    goodbye = standin.answers_sent[0][1]
    assert heard_run(got["received"], goodbye) == len(goodbye), "the goodbye heard whole"
    assert got["closed_at_frame"] is not None and got["closed_at_frame"] < 300, got["closed_at_frame"]


def test_deepgram_drop_keeps_the_answer_and_the_conversation():
    """Deepgram drops the connection (no close frame) right after its first answer: the answer
    plays to its end with no clear, the bridge reconnects, and the new Settings carries the
    conversation so far and no second greeting."""
    standin = DeepgramStandIn(reply_ms=1000, drop_first_connection=True)
    caller = SPEECH[:26 * FRAME] + SILENCE * (200 * FRAME)
    got = deepgram_call(standin, caller, 226, ["--deepgram-greeting", "Hello there"])
    assert len(standin.connections) == 2, len(standin.connections)
    first, second = standin.connections[0]["messages"][0], standin.connections[1]["messages"][0]
    assert first["agent"]["greeting"] == "Hello there" and "greeting" not in second["agent"]
    history = second["agent"]["context"]["messages"]
    assert [(m["type"], m["role"], m["content"]) for m in history] == [("History", "user", "caller turn 1"), ("History", "assistant", "answer 1")]
    assert heard_run(got["received"], standin.answers_sent[0][1]) == 8000
    assert got["clears"] == []


def test_elevenlabs_mulaw_both_ways_pings_and_a_long_answer_sent_at_once():
    """ulaw_8000: μ-law straight through both ways; the xi-api-key header; the call's
    description as dynamic variables, no overrides unless asked; every ping answered; a 4 s
    answer sent in one second heard whole."""
    standin = ElevenLabsStandIn(reply_ms=4000)
    caller = SPEECH[:26 * FRAME] + SILENCE * (300 * FRAME)
    got = elevenlabs_call(standin, caller, 326)
    connection = standin.connections[0]
    assert connection["path"] == "/v1/convai/conversation?agent_id=agent_peer" and connection["headers"].get("xi-api-key") == "xi-peer-key"
    initiation = connection["messages"][0]
    assert initiation["dynamic_variables"]["caller"] == "+14155550100" and "conversation_config_override" not in initiation
    assert bytes(connection["audio"][:26 * FRAME]) == caller[:26 * FRAME], "the caller's μ-law, byte for byte"
    assert heard_run(got["received"], standin.answers_sent[0][1]) == 4 * 8000
    assert got["clears"] == []
    assert len(connection["pongs"]) >= 5 and connection["pongs"] == list(range(1001, 1001 + len(connection["pongs"]))), connection["pongs"]


def test_elevenlabs_pcm_16000_is_resampled_both_ways():
    """pcm_16000 on a μ-law phone side: the caller reaches the agent as 16 kHz PCM, and the
    agent's answer reaches the caller."""
    standin = ElevenLabsStandIn(audio_format="pcm_16000", reply_ms=1000)
    caller = SPEECH[:26 * FRAME] + SILENCE * (150 * FRAME)
    got = elevenlabs_call(standin, caller, 176)
    assert len(standin.connections[0]["audio"]) >= 170 * 640, "20 ms of 16 kHz PCM per frame"
    assert loud_frames(got["received"]) >= 40, loud_frames(got["received"])


@pytest.mark.parametrize("who", ["elevenlabs", "our detector"])
def test_elevenlabs_barge_in(who):
    """The caller talks over a 3 s answer: ElevenLabs' interruption (our detector off), or our
    detector (ElevenLabs silent) cuts it; one clear, and nothing more of the cut answer."""
    standin = ElevenLabsStandIn(reply_ms=3000, interrupt=(who == "elevenlabs"))
    caller = SPEECH[:26 * FRAME] + SILENCE * (70 * FRAME) + SPEECH[36 * FRAME:56 * FRAME] + SILENCE * (120 * FRAME)
    got = elevenlabs_call(standin, caller, 236, ["--no-barge-in"] if who == "elevenlabs" else [])
    assert standin.interruptions == (1 if who == "elevenlabs" else 0)
    assert len(got["clears"]) == 1, got["clears"]
    heard = heard_run(got["received"], standin.answers_sent[0][1])
    print(f"{who}: {heard / 8:.0f} ms of the 3,000 ms answer heard")
    assert 200 * 8 < heard < 2500 * 8
    rest = [ulaw_decode(b) for b in standin.answers_sent[0][1][heard + 2000:heard + 2016]]
    assert not any(got["received"][i:i + 16] == rest for i in range(len(got["received"]) - 16))


def test_elevenlabs_end_call_after_the_goodbye():
    standin = ElevenLabsStandIn(reply_ms=1000, tool_call=("end_call", {"reason": "done"}))
    caller = SPEECH[:26 * FRAME] + SILENCE * (300 * FRAME)
    got = elevenlabs_call(standin, caller, 326)
    results = [m for _, m in standin.messages("client_tool_result")]
    assert len(results) == 1 and results[0]["tool_call_id"] == "tool_standin_1" and results[0]["is_error"] is False
    assert json.loads(results[0]["result"])["ok"] is True
    goodbye = standin.answers_sent[0][1]
    assert heard_run(got["received"], goodbye) == len(goodbye), "the goodbye heard whole"
    assert got["closed_at_frame"] is not None and got["closed_at_frame"] < 300, got["closed_at_frame"]


def test_elevenlabs_drop_keeps_the_answer_and_the_conversation():
    """A drop right after the first answer: it plays to its end, the bridge reconnects, the new
    connection gets the conversation so far as a contextual_update and (with overrides) no
    second greeting."""
    standin = ElevenLabsStandIn(reply_ms=1000, drop_first_connection=True)
    caller = SPEECH[:26 * FRAME] + SILENCE * (200 * FRAME)
    got = elevenlabs_call(standin, caller, 226, ["--elevenlabs-override-prompt", "--instructions", "Be brief."])
    assert len(standin.connections) == 2, len(standin.connections)
    first, second = standin.connections[0]["messages"], standin.connections[1]["messages"]
    assert first[0]["conversation_config_override"]["agent"] == {"prompt": {"prompt": "Be brief."}}
    assert second[0]["conversation_config_override"]["agent"] == {"prompt": {"prompt": "Be brief."}, "first_message": ""}
    update = next(m for m in second if m.get("type") == "contextual_update")
    assert "Caller: caller turn 1" in update["text"] and "You: answer 1" in update["text"], update
    assert heard_run(got["received"], standin.answers_sent[0][1]) == 8000
    assert got["clears"] == []


def test_elevenlabs_agent_in_another_format_is_not_used():
    """The agent speaks pcm_16000 but the bridge was told ulaw_8000: the call goes on with the
    fallback, no second connection, and the log says why."""
    standin = ElevenLabsStandIn(audio_format="pcm_16000")
    caller = SILENCE * (100 * FRAME)
    got = provider_call(standin, "elevenlabs", "/v1/convai/conversation?agent_id=agent_peer", {}, caller, 100,
                        ["--elevenlabs-format", "ulaw_8000"])
    assert len(standin.connections) == 1
    assert any("not --elevenlabs-format" in line for line in got["log"].lines), got["log"].lines[-5:]


def pcm16(data: bytes) -> list:
    return [int.from_bytes(data[i:i + 2], "little", signed=True) for i in range(0, len(data) - 1, 2)]


def test_gemini_audio_both_ways_and_a_long_answer_sent_at_once():
    """The setup comes first (model, audio out, the call in the instruction, end_call, automatic
    detection on, no handle); the caller reaches Gemini as 16 kHz PCM once setupComplete came;
    a 4 s answer at 24 kHz sent four times faster than real time is heard whole (back-pressure,
    nothing dropped)."""
    standin = GeminiStandIn(reply_ms=4000)
    caller = SPEECH[:26 * FRAME] + SILENCE * (300 * FRAME)
    got = gemini_call(standin, caller, 326)
    connection = standin.connections[0]
    assert connection["path"].endswith("BidiGenerateContent") and connection["headers"].get("x-goog-api-key") == "gm-peer-key"
    setup = connection["messages"][0]["setup"]
    assert setup["model"].startswith("models/") and setup["generationConfig"]["responseModalities"] == ["AUDIO"]
    assert "caller=+14155550100" in setup["systemInstruction"]["parts"][0]["text"]
    assert [f["name"] for f in setup["tools"][0]["functionDeclarations"]] == ["end_call"]
    assert setup["realtimeInputConfig"]["automaticActivityDetection"]["disabled"] is False
    assert setup["sessionResumption"] == {}
    heard = pcm16(bytes(connection["audio"]))
    assert len(heard) >= 320 * 320, "20 ms of 16 kHz audio per caller frame"
    assert loud_frames(heard[:30 * 320], frame=320) >= 20, "the caller's words, at 16 kHz"
    assert loud_frames(heard[40 * 320:], frame=320) == 0, "then silence"
    answer_frames = loud_frames(got["received"])
    print(f"gemini: {answer_frames} loud frames of the 200 in the 4 s answer")
    assert 198 <= answer_frames <= 202, answer_frames
    assert got["clears"] == []


@pytest.mark.parametrize("who", ["gemini", "our detector"])
def test_gemini_barge_in(who):
    """The caller talks over a 3 s answer: Gemini's interrupted (our detector off), or our
    detector (Gemini silent, its answer all sent) cuts it; one clear, and the rest of the answer
    is not played."""
    standin = GeminiStandIn(reply_ms=3000, interrupt=(who == "gemini"))
    caller = SPEECH[:26 * FRAME] + SILENCE * (70 * FRAME) + SPEECH[36 * FRAME:56 * FRAME] + SILENCE * (120 * FRAME)
    got = gemini_call(standin, caller, 236, ["--no-barge-in"] if who == "gemini" else [])
    assert standin.interruptions == (1 if who == "gemini" else 0)
    assert len(got["clears"]) == 1, got["clears"]
    clear = got["clears"][0]
    heard = loud_frames(got["received"][:clear])
    print(f"{who}: {heard * 20} ms of the 3,000 ms answer heard")
    assert 10 < heard < 125, heard
    # The cut answer stops there (a next answer may come, after the caller's turn has ended).
    assert loud_frames(got["received"][clear:clear + 8 * 300]) <= 1, loud_frames(got["received"][clear:clear + 8 * 300])


def test_gemini_local_turn_detection_sends_activity_start_and_end():
    """--turn-detection local: automatic detection off in the setup, and our detector's speech
    start and end go to Gemini as activityStart/activityEnd; its answer is heard."""
    standin = GeminiStandIn(reply_ms=1000)
    caller = SPEECH[:26 * FRAME] + SILENCE * (150 * FRAME)
    got = gemini_call(standin, caller, 176, ["--turn-detection", "local"])
    messages = standin.connections[0]["messages"]
    assert messages[0]["setup"]["realtimeInputConfig"]["automaticActivityDetection"]["disabled"] is True
    activity = [next(iter(m["realtimeInput"])) for m in messages[1:] if "realtimeInput" in m]
    assert activity == ["activityStart", "activityEnd"], activity
    assert 48 <= loud_frames(got["received"]) <= 52, loud_frames(got["received"])


def test_gemini_end_call_after_the_goodbye():
    """Gemini calls end_call: the bridge answers with a toolResponse, Gemini says goodbye, and
    the call ends once the goodbye has been heard."""
    standin = GeminiStandIn(reply_ms=1000, tool_call=("end_call", {"reason": "done"}))
    caller = SPEECH[:26 * FRAME] + SILENCE * (300 * FRAME)
    got = gemini_call(standin, caller, 326)
    responses = [m for _, m in standin.messages("toolResponse")]
    assert len(responses) == 1, responses
    response = responses[0]["functionResponses"][0]
    assert response["id"] == "call_standin_1" and response["name"] == "end_call" and response["response"]["ok"] is True
    assert loud_frames(got["received"]) >= 48, "the goodbye heard"
    assert got["closed_at_frame"] is not None and got["closed_at_frame"] < 300, got["closed_at_frame"]


def test_gemini_go_away_moves_to_a_new_connection_with_the_resumption_handle():
    """After its first answer Gemini sends goAway (and closes half a second later): the bridge
    connects again at once with the latest resumption handle, the answer plays to its end with
    no clear, and the caller's next turn is answered on the new connection."""
    standin = GeminiStandIn(reply_ms=1000, go_away_after_first_answer=True)
    caller = SPEECH[:26 * FRAME] + SILENCE * (100 * FRAME) + SPEECH[30 * FRAME:56 * FRAME] + SILENCE * (120 * FRAME)
    got = gemini_call(standin, caller, 272)
    assert len(standin.connections) == 2, len(standin.connections)
    assert standin.connections[1]["messages"][0]["setup"]["sessionResumption"] == {"handle": "handle-1"}
    assert [index for index, _ in standin.answers_sent] == [0, 1], [index for index, _ in standin.answers_sent]
    assert 96 <= loud_frames(got["received"]) <= 104, loud_frames(got["received"])
    assert got["clears"] == []
