import IoTHubProtocol
import Testing
@testable import IoTHubDevice

/// Parsing the storage's `Get Block List` answers and error bodies, and what the upload does with each answer.
@Suite struct FileUploadStorageXMLTests {
    @Test func parsesAzureBlockList() throws {
        let xml = """
            <?xml version="1.0" encoding="utf-8"?>
            <BlockList>
              <CommittedBlocks>
                <Block><Name>AAAAAQ==</Name><Size>4194304</Size></Block>
                <Block>
                  <Name>AAAAAg==</Name>
                  <Size> 12 </Size>
                </Block>
              </CommittedBlocks>
              <UncommittedBlocks>
                <Block><Name>AAAAAw==</Name><Size>7</Size></Block>
              </UncommittedBlocks>
            </BlockList>
            """
        let list = try BlobBlockList(parsing: Array(xml.utf8))
        #expect(list.committed == [.init(name: "AAAAAQ==", size: 4_194_304), .init(name: "AAAAAg==", size: 12)])
        #expect(list.uncommitted == [.init(name: "AAAAAw==", size: 7)])
        #expect(list.sizesByName == ["AAAAAQ==": 4_194_304, "AAAAAg==": 12, "AAAAAw==": 7])
    }

    @Test func parsesEmptyAndSelfClosingSections() throws {
        let empty = try BlobBlockList(parsing: Array("<BlockList><CommittedBlocks /><UncommittedBlocks/></BlockList>".utf8))
        #expect(empty == BlobBlockList())
        let none = try BlobBlockList(parsing: Array(#"<?xml version="1.0"?><BlockList></BlockList>"#.utf8))
        #expect(none == BlobBlockList())
    }

    @Test func readsTheHubsOwnBlockListAnswer() throws {
        let ids = (0..<3).map { BlockIdentifier(index: $0, bytes: [UInt8($0)]).value }
        let xml = BlockList.responseXML(committed: [(ids[0], 1)], uncommitted: [(ids[1], 1), (ids[2], 1)])
        let list = try BlobBlockList(parsing: Array(xml.utf8))
        #expect(list.committed.map(\.name) == [ids[0]])
        #expect(list.uncommitted.map(\.name) == [ids[1], ids[2]])
    }

    @Test func refusesWhatIsNotABlockList() {
        #expect(throws: FileUploadError.self) { try BlobBlockList(parsing: Array("<Error><Code>X</Code></Error>".utf8)) }
        #expect(throws: FileUploadError.self) {
            try BlobBlockList(parsing: Array("<BlockList><CommittedBlocks><Block><Name>a</Name></Block></CommittedBlocks></BlockList>".utf8))
        }
    }

    @Test func readsStorageErrors() {
        let body = Array("""
            <?xml version="1.0" encoding="utf-8"?><Error><Code>AuthenticationFailed</Code><Message>Server failed to \
            authenticate the request.
            RequestId:1</Message></Error>
            """.utf8)
        let error = StorageXML.error(in: body)
        #expect(error.code == "AuthenticationFailed")
        #expect(error.message == "Server failed to authenticate the request.")
        #expect(StorageXML.error(in: []).code == nil)
        #expect(StorageXML.unescape("a &lt;b&gt; &amp;amp;") == "a <b> &amp;")
    }

    @Test func decisionsForStorageAnswers() {
        func answer(_ status: Int, _ code: String = "X") -> HTTPSResponse {
            HTTPSResponse(status: status, body: Array("<Error><Code>\(code)</Code><Message>m</Message></Error>".utf8))
        }
        #expect(FileUploadDecision.storage("Put Block", response: HTTPSResponse(status: 201, body: [])) == .done)
        #expect(FileUploadDecision.storage("Put Block", response: answer(403, "AuthenticationFailed"))
                == .renewSAS(status: 403, storageCode: "AuthenticationFailed", message: "m"))
        guard case .fail(let quota) = FileUploadDecision.storage("Put Block", response: answer(507, "InsufficientStorage"))
        else { Issue.record("507 must fail"); return }
        #expect(quota.code == .storageQuotaExceeded && quota.isResumable)
        #expect(quota.description.contains("free space on the hub or raise --storage-max-bytes"))
        guard case .fail(let tooLarge) = FileUploadDecision.storage("Put Block", response: answer(413), blockBytes: 99)
        else { Issue.record("413 must fail"); return }
        #expect(tooLarge.code == .blockTooLarge && !tooLarge.isResumable)
        guard case .fail(let exists) = FileUploadDecision.storage("Put Block", response: answer(409, "BlobAlreadyExists"))
        else { Issue.record("409 must fail"); return }
        #expect(exists.code == .storageFailed && exists.storageCode == "BlobAlreadyExists")
        for status in [408, 429, 500, 503] {
            guard case .retry = FileUploadDecision.storage("Put Block", response: answer(status)) else {
                Issue.record("\(status) must retry")
                continue
            }
        }
        guard case .fail = FileUploadDecision.storage("Put Block", response: answer(501)) else {
            Issue.record("501 must fail")
            return
        }
    }

    @Test func decisionsForHubAnswersAndTransportFailures() {
        #expect(FileUploadDecision.hub("POST /files", response: HTTPSResponse(status: 204, body: [])) == .done)
        guard case .fail(let refused) = FileUploadDecision.hub("POST /files", response: HTTPSResponse(status: 401, body: []))
        else { Issue.record("401 must fail"); return }
        #expect(refused.code == .hubRefused && refused.status == 401 && refused.description.contains("key or token"))
        guard case .retry = FileUploadDecision.hub("POST /files", response: HTTPSResponse(status: 503, body: [])) else {
            Issue.record("503 must retry")
            return
        }
        guard case .retry = FileUploadDecision.transport("Put Block", HTTPSTransportError(code: 7, message: "refused"))
        else { Issue.record("a refused connection must retry"); return }
        guard case .fail(let tls) = FileUploadDecision.transport("Put Block", HTTPSTransportError(code: 60, message: "cert"))
        else { Issue.record("a TLS verification failure must fail"); return }
        #expect(tls.code == .tlsFailed)
    }
}
