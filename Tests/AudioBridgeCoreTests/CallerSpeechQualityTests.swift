// SPDX-License-Identifier: MIT
import AudioBridgeCore
import Foundation
import Testing

/// Quality floors for the barge-in detector on the labelled dev corpus (Tests/Vectors/vad-dev,
/// a copy of ../shared/vad-dev/dev), measured the way the corpus's scorer measures: frame F1
/// pooled over all calls; a false barge-in is a 0→1 transition outside every utterance's zone
/// (100 ms before its onset to 300 ms after its end). Quality, not timing: the floors sit a
/// little under what the detector scores today, so a regression fails here.
struct CallerSpeechQualityTests {
    struct Call {
        var name: String
        var caller: [Int16]
        var reference: [Int16]?
        var labels: [Bool]
        var zones: [(Int, Int)]
        var dtmf: [(Int, Int)]
    }

    static func load() throws -> [Call] {
        let directory = TestData.testsDirectory.appendingPathComponent("Vectors/vad-dev")
        let names = try FileManager.default.contentsOfDirectory(atPath: directory.path)
            .filter { $0.hasSuffix(".labels.txt") }.map { String($0.dropLast(".labels.txt".count)) }.sorted()
        return try names.map { name in
            func wav(_ suffix: String) throws -> [Int16]? {
                let url = directory.appendingPathComponent(name + suffix)
                guard FileManager.default.fileExists(atPath: url.path) else { return nil }
                let data = try Data(contentsOf: url)
                // The corpus's WAVs are canonical 44-byte-header PCM16 mono files.
                return data.dropFirst(44).withUnsafeBytes { Array($0.bindMemory(to: Int16.self)) }
            }
            let labels = try String(contentsOf: directory.appendingPathComponent(name + ".labels.txt"), encoding: .utf8)
                .split(separator: "\n").map { $0 == "1" }
            let meta = try JSONSerialization.jsonObject(with: Data(contentsOf: directory.appendingPathComponent(name + ".json"))) as? [String: Any] ?? [:]
            let utterances = (meta["utterances"] as? [[String: Any]] ?? []).map { (($0["onset_ms"] as? Double) ?? 0, ($0["end_ms"] as? Double) ?? 0) }
            let impulses = (meta["impulses"] as? [[String: Any]] ?? []).filter { $0["type"] as? String == "dtmf" }
            return Call(name: name, caller: try wav(".wav") ?? [], reference: try wav(".ref.wav"), labels: labels,
                        zones: utterances.map { (Int($0.0) - 100, Int($0.1) + 300) },
                        dtmf: impulses.map { (Int(($0["start_ms"] as? Double) ?? 0), Int(($0["end_ms"] as? Double) ?? 0) + 300) })
        }
    }

    @Test func floorsOnTheDevCorpus() throws {
        let calls = try Self.load()
        #expect(calls.count == 16, "the dev corpus is in Tests/Vectors/vad-dev")
        var truePositive = 0, falsePositive = 0, falseNegative = 0
        var falseBargeIns: [String: Int] = [:]
        var onDTMF = 0
        var missed = 0, utterances = 0
        for call in calls {
            let states = SpeechFrames.detect(caller: call.caller, reference: call.reference)
            for (state, label) in zip(states, call.labels) {
                if state && label { truePositive += 1 } else if state { falsePositive += 1 } else if label { falseNegative += 1 }
            }
            let triggers = SpeechFrames.triggers(states)
            for time in triggers where !call.zones.contains(where: { $0.0 <= time && time < $0.1 }) {
                falseBargeIns[call.name, default: 0] += 1
                if call.dtmf.contains(where: { $0.0 <= time && time < $0.1 }) { onDTMF += 1 }
            }
            utterances += call.zones.count
            missed += call.zones.filter { zone in !triggers.contains { zone.0 <= $0 && $0 < zone.1 } }.count
        }
        let precision = Double(truePositive) / Double(truePositive + falsePositive)
        let recall = Double(truePositive) / Double(truePositive + falseNegative)
        let f1 = 2 * precision * recall / (precision + recall)
        print("dev corpus: F1 \(f1), P \(precision), R \(recall), missed \(missed)/\(utterances), false barge-ins \(falseBargeIns)")
        #expect(f1 >= 0.79, "frame F1 \(f1) (Silero scores 0.769 here)")
        #expect(falseBargeIns.filter { $0.key.hasSuffix("echo_only") }.values.reduce(0, +) == 0, "the agent's own echo never barges in")
        #expect(onDTMF == 0, "keypad tones never barge in")
        let outsideBabble = falseBargeIns.filter { !$0.key.contains("babble") }.values.reduce(0, +)
        #expect(outsideBabble <= 2, "false barge-ins outside babble: \(falseBargeIns)")
        #expect(falseBargeIns.values.reduce(0, +) <= 55, "false barge-ins in all: \(falseBargeIns)")
        #expect(missed <= 20, "utterances without a barge-in: \(missed) of \(utterances)")
    }
}
