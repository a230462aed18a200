import IoTHubProtocol
import Testing

@Suite("Block lists: Put Block List bodies and Get Block List answers")
struct BlockListTests {
    @Test("the bodies azure-storage-blob and the C SDK send")
    func parsesClientBodies() throws {
        let python = #"<?xml version='1.0' encoding='utf-8'?>\#n<BlockList><Latest>MDAwMDA=</Latest><Latest>MDAwMDE=</Latest></BlockList>"#
        #expect(try BlockList.parseRequest(Array(python.utf8)).map(\.id) == ["MDAwMDA=", "MDAwMDE="])
        let c = "<?xml version=\"1.0\" encoding=\"utf-8\"?>\r\n<BlockList>\r\n<Latest>MDAwMDAw</Latest>\r\n</BlockList>"
        #expect(try BlockList.parseRequest(Array(c.utf8)) == [.init(id: "MDAwMDAw", source: .latest)])
        let mixed = "\u{FEFF}<BlockList><Committed>QQ==</Committed><Uncommitted> Qg== </Uncommitted><Latest>a&#43;b&amp;</Latest></BlockList>"
        #expect(try BlockList.parseRequest(Array(mixed.utf8)) == [
            .init(id: "QQ==", source: .committed), .init(id: "Qg==", source: .uncommitted), .init(id: "a+b&", source: .latest),
        ])
        #expect(try BlockList.parseRequest(Array("<BlockList></BlockList>".utf8)).isEmpty)
    }

    @Test("malformed bodies are refused with a reason")
    func refusesMalformed() {
        for body in ["", "<Blocks></Blocks>", "<BlockList><Latest>QQ==</BlockList>", "<BlockList><Other>QQ==</Other></BlockList>",
                     "<BlockList><Latest>QQ==</Latest></BlockList>trailing"] {
            #expect(throws: BlockListError.self, "\(body)") { try BlockList.parseRequest(Array(body.utf8)) }
        }
    }

    @Test("the Get Block List answer and block ids")
    func answer() {
        let xml = BlockList.responseXML(committed: [("QQ==", 4)], uncommitted: [("Qg==", 2)], includeCommitted: true,
                                        includeUncommitted: false)
        #expect(xml == "<?xml version=\"1.0\" encoding=\"utf-8\"?><BlockList><CommittedBlocks><Block><Name>QQ==</Name><Size>4</Size></Block></CommittedBlocks></BlockList>")
        #expect(BlockList.isValidBlockId("MDAwMDAw"))
        #expect(!BlockList.isValidBlockId("not base64!"))
        #expect(!BlockList.isValidBlockId(""))
        #expect(!BlockList.isValidBlockId(LibCrypto.base64Encode(Array(repeating: 1, count: 65))))
    }
}
