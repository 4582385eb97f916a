// SPDX-License-Identifier: MIT
// The pause-then-commit options, the same for `serve` and `vad`: --barge-in-mode, --confirm-ms,
// --max-pause-ms.
import ArgumentParser
import AudioBridgeCore

struct BargeInArbitrationOptions: ParsableArguments {
    @Option(help: "Barge-in: pause (an onset pauses the agent, confirmed speech cuts it, anything else resumes it) or immediate (every onset cuts).")
    var bargeInMode = "pause"

    @Option(help: "Barge-in: how long a pause lasts at least before it cuts the agent (half of it confirmed as the caller's speech), ms (0–2000).")
    var confirmMs = BargeInArbiter.Settings().confirmationMilliseconds

    @Option(help: "Barge-in: the longest pause; unconfirmed speech resumes the agent after this long, ms (confirm-ms–5000).")
    var maxPauseMs = BargeInArbiter.Settings().maximumPauseMilliseconds

    func settings() throws -> BargeInArbiter.Settings {
        var settings = BargeInArbiter.Settings()
        switch bargeInMode {
        case "pause": settings.mode = .pauseThenCommit
        case "immediate": settings.mode = .immediate
        default: throw ValidationError("--barge-in-mode is pause or immediate")
        }
        settings.confirmationMilliseconds = confirmMs
        settings.maximumPauseMilliseconds = maxPauseMs
        guard settings.isValid else { throw ValidationError("--confirm-ms is 0…2000 and --max-pause-ms from it to 5000") }
        return settings
    }
}
