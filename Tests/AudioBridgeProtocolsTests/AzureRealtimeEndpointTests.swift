// SPDX-License-Identifier: MIT
import AudioBridgeProtocols
import Testing

struct AzureRealtimeEndpointTests {
    @Test func theGAPathNamesTheDeploymentAsTheModel() {
        let endpoint = AzureRealtimeEndpoint(resource: "https://contoso.openai.azure.com/", deployment: "gpt-realtime-1")
        #expect(endpoint.url == "wss://contoso.openai.azure.com/openai/v1/realtime?model=gpt-realtime-1")
        #expect(endpoint.protocolVersion == .ga)
    }

    @Test func thePreviewPathCarriesTheVersionAndSpeaksBeta() {
        let endpoint = AzureRealtimeEndpoint(resource: "https://contoso.openai.azure.com", deployment: "rt", apiVersion: "2025-04-01-preview")
        #expect(endpoint.url == "wss://contoso.openai.azure.com/openai/realtime?api-version=2025-04-01-preview&deployment=rt")
        #expect(endpoint.protocolVersion == .beta)
    }

    @Test func localAndGatewayEndpointsKeepTheirSchemeAndPath() {
        #expect(AzureRealtimeEndpoint(resource: "http://127.0.0.1:8123", deployment: "d").url == "ws://127.0.0.1:8123/openai/v1/realtime?model=d")
        #expect(AzureRealtimeEndpoint(resource: "wss://gw.example/azure//", deployment: "d").url == "wss://gw.example/azure/openai/v1/realtime?model=d")
    }

    @Test func endpointsAndNamesThatCannotBeAURLAreRefused() {
        for resource in ["contoso.openai.azure.com", "ftp://x", "https://", "https://x?y=1", "https://x#f"] {
            #expect(AzureRealtimeEndpoint(resource: resource, deployment: "d").url == nil, "\(resource)")
        }
        for deployment in ["", "a b", "a&b", "a?b", "a/b", "ü"] {
            #expect(AzureRealtimeEndpoint(resource: "https://x", deployment: deployment).url == nil, "\(deployment)")
        }
        #expect(AzureRealtimeEndpoint(resource: "https://x", deployment: "d", apiVersion: "2025&x=1").url == nil)
    }

    @Test func aKeyGoesInApiKeyElseATokenIsBearer() {
        #expect(AzureRealtimeEndpoint.authorization(apiKey: "k", bearerToken: "t")! == ("api-key", "k"))
        #expect(AzureRealtimeEndpoint.authorization(apiKey: "", bearerToken: "t")! == ("Authorization", "Bearer t"))
        #expect(AzureRealtimeEndpoint.authorization(apiKey: "", bearerToken: "") == nil)
    }
}
