import IoTHubProtocol
import Testing

@Suite("Blob service SAS: signing and the refusals Azure Storage answers")
struct BlobServiceSASTests {
    let key = SharedAccessKey(bytes: Array("storage-account-key".utf8))
    let now = Timestamp(secondsSince1970: 1_800_000_000)
    var expiry: Timestamp { Timestamp(secondsSince1970: now.secondsSince1970 + 3600) }

    func sas(_ permissions: BlobSASPermissions = [.read, .write], blob: String = "d1/log.txt") -> BlobServiceSAS {
        BlobServiceSAS.sign(account: "iothub", container: "fileupload", blob: blob, permissions: permissions,
                            expiry: expiry, key: key)
    }

    func verify(_ query: String, blob: String = "d1/log.txt", needs: BlobSASPermissions = [.write],
                at time: Timestamp? = nil) throws(BlobSASError) {
        let parsed = try BlobServiceSAS(query: Substring(query.hasPrefix("?") ? String(query.dropFirst()) : query))
        try parsed.verify(account: "iothub", container: "fileupload", blob: blob, key: key, now: time ?? now, requires: needs)
    }

    @Test("a signed SAS verifies, with other query parameters around it, as Azure's own fields")
    func roundTrip() throws {
        let query = sas().queryString
        #expect(query.hasPrefix("?sv=2021-08-06&se=2027-01-15T09%3A00%3A00Z&sr=b&sp=rw&spr=https%2Chttp&sig="))
        try verify(query)
        try verify("comp=block&blockid=QUFBQQ%3D%3D&" + query.dropFirst() + "&timeout=30")
        try verify(query, needs: [.read])
    }

    @Test("expired, tampered, another blob, read-only for a write: each refused with Azure's code")
    func refusals() throws {
        let query = sas().queryString
        #expect(throws: BlobSASError.expired(expiry: "2027-01-15T09:00:00Z")) {
            try verify(query, at: Timestamp(secondsSince1970: now.secondsSince1970 + 3601))
        }
        #expect(throws: BlobSASError.signatureMismatch) { try verify(query.replacingSignatureCharacter()) }
        // A later expiry is part of the signed string.
        #expect(throws: BlobSASError.signatureMismatch) { try verify(query.replacing("se=2027-01-15T09", with: "se=2027-01-15T10")) }
        #expect(throws: BlobSASError.signatureMismatch) { try verify(query, blob: "d1/other.txt") }
        #expect(throws: BlobSASError.signatureMismatch) { try verify(query, blob: "d2/log.txt") }
        let readOnly = sas([.read]).queryString
        #expect(throws: BlobSASError.permissionMismatch(granted: "r", needed: "w")) { try verify(readOnly) }
        #expect(BlobSASError.permissionMismatch(granted: "r", needed: "w").storageError == .authorizationPermissionMismatch)
        #expect(BlobSASError.signatureMismatch.storageError.status == 403)
        #expect(throws: BlobSASError.missing("sig")) { try verify("sv=2021-08-06&sr=b&sp=rw&se=2027-01-15T09%3A00%3A00Z") }
        #expect(throws: BlobSASError.malformed("sig")) { try verify(query + "&sig=%zz") }
        #expect(!BlobServiceSAS.isPresent(in: "comp=block&blockid=AAAA"))
    }

    @Test("a start time in the future is refused; permission letters keep Azure's order")
    func startAndLetters() throws {
        let later = BlobServiceSAS.sign(account: "iothub", container: "fileupload", blob: "d1/log.txt", permissions: [.read],
                                        expiry: expiry, start: Timestamp(secondsSince1970: now.secondsSince1970 + 60),
                                        key: key)
        #expect(throws: BlobSASError.notYetValid(start: "2027-01-15T08:01:00Z")) { try verify(later.queryString, needs: [.read]) }
        try verify(later.queryString, needs: [.read], at: Timestamp(secondsSince1970: now.secondsSince1970 + 61))
        #expect(BlobSASPermissions(letters: "wdr").letters == "rwd")
        #expect(BlobSASPermissions(letters: "rwxyz") == [.read, .write])
    }
}

extension String {
    /// The SAS with one character of its signature changed.
    fileprivate func replacingSignatureCharacter() -> String {
        guard let range = self.range(of: "sig=") else { return self }
        var copy = self
        let index = range.upperBound
        copy.replaceSubrange(index...index, with: copy[index] == "A" ? "B" : "A")
        return copy
    }
}
