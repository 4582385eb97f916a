// SPDX-License-Identifier: MIT
// Azure OpenAI serves the same Realtime protocol as OpenAI, for a deployment of a realtime model
// in one of its resources:
//   GA       wss://RESOURCE.openai.azure.com/openai/v1/realtime?model=DEPLOYMENT
//   preview  wss://RESOURCE.openai.azure.com/openai/realtime?api-version=VERSION&deployment=DEPLOYMENT
// (the preview API versions speak the beta event names). A key goes in an `api-key` header, a
// Microsoft Entra ID token as a bearer token. Pure: strings in, a URL and headers out.

public struct AzureRealtimeEndpoint: Equatable, Sendable {
    /// The resource's endpoint, e.g. https://NAME.openai.azure.com (http:// or ws:// for a local
    /// stand-in; a path after the host is kept, for a gateway in front of Azure).
    public var resource: String
    /// The deployment's name: what OpenAI calls the model.
    public var deployment: String
    /// nil for the GA path; an API version (e.g. 2025-04-01-preview) for the preview path.
    public var apiVersion: String?

    public init(resource: String, deployment: String, apiVersion: String? = nil) {
        self.resource = resource
        self.deployment = deployment
        self.apiVersion = apiVersion
    }

    /// The protocol the path speaks: the preview API versions use the beta names.
    public var protocolVersion: RealtimeProtocolVersion { apiVersion == nil ? .ga : .beta }

    /// The WebSocket URL, or nil for an endpoint that is not an http(s) or ws(s) URL, or a
    /// deployment or API version with characters a name of Azure's cannot have.
    public var url: String? {
        guard Self.isName(deployment), apiVersion.map(Self.isName) ?? true else { return nil }
        var base = Substring(resource)
        let schemes = [("https://", "wss://"), ("http://", "ws://"), ("wss://", "wss://"), ("ws://", "ws://")]
        guard let (from, to) = schemes.first(where: { base.hasPrefix($0.0) }) else { return nil }
        base = base.dropFirst(from.count)
        while base.hasSuffix("/") { base = base.dropLast() }
        guard !base.isEmpty, !base.contains("?"), !base.contains("#") else { return nil }
        if let apiVersion {
            return "\(to)\(base)/openai/realtime?api-version=\(apiVersion)&deployment=\(deployment)"
        }
        return "\(to)\(base)/openai/v1/realtime?model=\(deployment)"
    }

    /// How a call authenticates: an `api-key` header for a key, else a bearer token (Entra ID).
    /// nil when neither is given.
    public static func authorization(apiKey: String, bearerToken: String) -> (name: String, value: String)? {
        if !apiKey.isEmpty { return ("api-key", apiKey) }
        if !bearerToken.isEmpty { return ("Authorization", "Bearer " + bearerToken) }
        return nil
    }

    /// Letters, digits, '.', '_' and '-': deployment names and API versions (nothing to escape).
    private static func isName(_ text: String) -> Bool {
        !text.isEmpty && text.utf8.allSatisfy { c in
            (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5A) || (c >= 0x61 && c <= 0x7A) || c == 0x2E || c == 0x5F || c == 0x2D
        }
    }
}
