// SPDX-License-Identifier: MIT
// The caller's key presses on their way to a model, in one of three ways (`--dtmf-to-model`):
//   off    not given to the model
//   text   gathered until `gap` passes without another, or '#', then given as one user text item
//          (and the model asked to answer) — an IVR-style turn
//   tool   the model asks for them with collect_digits(max_digits, timeout_ms, finish_on_key):
//          its result is the digits pressed until the maximum, the finishing key or the timeout;
//          keys pressed before it asked are kept (up to 32) and count first, as type-ahead does
// On the call's event loop.
import AudioBridgeProtocols
import NIOCore

/// How the caller's key presses reach a model (`--dtmf-to-model`).
public enum KeyPressesToModel: String, Sendable {
    case off, text, tool
}

final class CallerKeyPresses {
    typealias Mode = KeyPressesToModel

    static let collectDigits = "collect_digits"
    static let typeAheadLimit = 32

    /// The collect_digits declaration, offered in tool mode.
    static let tool = RealtimeTool(
        name: collectDigits,
        description: "Wait for the caller to type digits on their phone's keypad and get them, e.g. an account number or a menu choice. Ask them to type first.",
        parameters: ["type": "object", "properties": [
            "max_digits": ["type": "integer", "description": "Stop after this many digits (default 20)."],
            "timeout_ms": ["type": "integer", "description": "Stop this long after the last key, or after the call if none (default 5000)."],
            "finish_on_key": ["type": "string", "description": "A key that ends the input, not included (default #)."],
        ]])

    let mode: Mode
    private let gap: TimeAmount
    private let eventLoop: any EventLoop
    /// Text mode: the gathered keys, as the text to give.
    private let giveText: (String) -> Void
    /// Tool mode: the function call's id, its connection and the result.
    private let giveResult: (String, Int, String) -> Void

    /// Keys not yet given (text mode), or pressed before the model asked (tool mode).
    private var pressed: [UInt8] = []
    private var collection: (callID: String, connection: Int, maximum: Int, finishKey: UInt8?, timeout: TimeAmount)?
    private var timer: Scheduled<Void>?

    init(mode: Mode, gap: TimeAmount, eventLoop: any EventLoop, giveText: @escaping (String) -> Void, giveResult: @escaping (String, Int, String) -> Void) {
        self.mode = mode
        self.gap = gap
        self.eventLoop = eventLoop
        self.giveText = giveText
        self.giveResult = giveResult
    }

    func pressed(_ digit: UInt8) {
        switch mode {
        case .off:
            return
        case .text:
            pressed.append(digit)
            restartTimer(gap) { $0.flushText() }
            if digit == UInt8(ascii: "#") { flushText() }
        case .tool:
            guard collection != nil else {
                if pressed.count < Self.typeAheadLimit { pressed.append(digit) }
                return
            }
            take(digit)
        }
    }

    /// The model called collect_digits.
    func collect(callID: String, connection: Int, arguments: JSONValue) {
        if let previous = collection { finish(previous, endedBy: "replaced") }
        let maximum = max(1, min(arguments["max_digits"]?.int ?? 20, 64))
        let finishKey = (arguments["finish_on_key"]?.string ?? "#").utf8.first
        let timeout = TimeAmount.milliseconds(Int64(max(100, min(arguments["timeout_ms"]?.int ?? 5000, 60_000))))
        collection = (callID, connection, maximum, finishKey, timeout)
        collected = []
        let typedAhead = pressed
        pressed.removeAll()
        restartTimer(timeout) { $0.timedOut() }
        for digit in typedAhead where collection != nil { take(digit) }
    }

    func cancel() {
        timer?.cancel()
        timer = nil
    }

    // MARK: Text mode

    private func flushText() {
        cancel()
        guard !pressed.isEmpty else { return }
        let keys = pressed.map { String(UnicodeScalar($0)) }.joined(separator: " ")
        pressed.removeAll()
        giveText(keys)
    }

    // MARK: Tool mode

    private var collected: [UInt8] = []

    private func take(_ digit: UInt8) {
        guard let current = collection else { return }
        if digit == current.finishKey { return finish(current, endedBy: "finish_on_key") }
        collected.append(digit)
        if collected.count >= current.maximum { return finish(current, endedBy: "max_digits") }
        restartTimer(current.timeout) { $0.timedOut() }
    }

    private func timedOut() {
        guard let current = collection else { return }
        finish(current, endedBy: "timeout")
    }

    private func finish(_ current: (callID: String, connection: Int, maximum: Int, finishKey: UInt8?, timeout: TimeAmount), endedBy reason: String) {
        cancel()
        collection = nil
        let digits = String(decoding: collected, as: UTF8.self)
        collected = []
        giveResult(current.callID, current.connection, JSONValue.object([("digits", .string(digits)), ("ended_by", .string(reason))]).jsonText)
    }

    private func restartTimer(_ delay: TimeAmount, _ action: @escaping (CallerKeyPresses) -> Void) {
        timer?.cancel()
        timer = eventLoop.assumeIsolated().scheduleTask(in: delay) { [weak self] in
            guard let self else { return }
            self.timer = nil
            action(self)
        }
    }
}
