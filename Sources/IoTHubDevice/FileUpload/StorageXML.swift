/// The little XML the Blob REST API answers with: find elements by name (no attributes or namespaces matter
/// here), read their text, and the `<Error><Code>…</Code><Message>…</Message></Error>` of a refusal.
enum StorageXML {
    /// The contents of each `<name>…</name>` (or `<name attr="…">…</name>`) in `text`, outermost first;
    /// `<name/>` counts as empty.
    static func elements(_ name: String, in text: Substring) -> [Substring] {
        var found: [Substring] = []
        var rest = text[...]
        while let element = nextElement(name, in: rest) {
            found.append(element.contents)
            rest = rest[element.end...]
        }
        return found
    }

    /// The contents of the first `<name>` element in `text`.
    static func firstElement(_ name: String, in text: Substring) -> Substring? {
        nextElement(name, in: text)?.contents
    }

    private static func nextElement(_ name: String, in text: Substring) -> (contents: Substring, end: String.Index)? {
        var search = text.startIndex
        while let open = text[search...].firstRange(of: "<" + name) {
            let afterName = open.upperBound
            guard afterName < text.endIndex else { return nil }
            let next = text[afterName]
            // "<Block" must not match "<BlockList".
            guard next == ">" || next == "/" || next == " " || next == "\t" || next == "\n" || next == "\r" else {
                search = afterName
                continue
            }
            guard let tagEnd = text[afterName...].firstIndex(of: ">") else { return nil }
            if text[text.index(before: tagEnd)] == "/" {
                return (text[tagEnd..<tagEnd], text.index(after: tagEnd))
            }
            let contentStart = text.index(after: tagEnd)
            guard let close = text[contentStart...].firstRange(of: "</" + name + ">") else { return nil }
            return (text[contentStart..<close.lowerBound], close.upperBound)
        }
        return nil
    }

    /// Replaces the five predefined XML entities.
    static func unescape(_ text: Substring) -> String {
        guard text.contains("&") else { return String(text) }
        return String(text).replacing("&lt;", with: "<").replacing("&gt;", with: ">").replacing("&quot;", with: "\"")
            .replacing("&apos;", with: "'").replacing("&amp;", with: "&")
    }

    /// The code and message of a storage error body, when it is one.
    static func error(in body: [UInt8]) -> (code: String?, message: String) {
        let text = Substring(String(decoding: body, as: UTF8.self))
        guard let error = firstElement("Error", in: text) else {
            return (nil, text.isEmpty ? "no error body" : String(text.prefix(300)))
        }
        let code = firstElement("Code", in: error).map(unescape)
        let message = firstElement("Message", in: error).map(unescape) ?? String(error.prefix(300))
        return (code, message.split(separator: "\n").first.map(String.init) ?? message)
    }
}
