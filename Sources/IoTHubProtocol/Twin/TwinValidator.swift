/// Checks a patch or replacement for one twin section against ``TwinLimits`` before anything is changed.
///
/// Patches land at the same paths in the section as in the patch, so checking keys, strings, integers and depth
/// on the patch alone is enough; only the section size needs the merged result (see ``checkSize(old:new:)``).
struct TwinValidator {
    let limits: TwinLimits
    let section: TwinSection

    /// Members that clients echo back from a twin they read (`$version`, `$metadata`) and that IoT Hub ignores at
    /// the top of a section in updates.
    static let ignoredSystemKeys = ["$version", "$metadata"]

    /// `document` as an object without the ignored system members, after checking every key and value in it.
    func validatedObject(_ document: JSONValue) throws(TwinError) -> JSONObject {
        guard case .object(var object) = document else {
            throw .notAnObject(path: section.path, found: document.typeName)
        }
        for key in Self.ignoredSystemKeys { object.removeValue(forKey: key) }
        try checkMembers(of: object, path: section.path, depth: 0)
        return object
    }

    /// Refuses a section that would end above its limit and larger than before.
    func checkSize(old: JSONObject, new: JSONObject) throws(TwinError) {
        let limit = limits.maxSize(of: section)
        let newSize = TwinLimits.size(of: new)
        guard newSize > limit else { return }
        guard newSize > TwinLimits.size(of: old) else { return }
        throw .sectionTooLarge(section: section, size: newSize, limit: limit)
    }

    // MARK: Walking the document

    /// Checks the members of an object at `depth` (the section itself is depth 0).
    private func checkMembers(of object: JSONObject, path: String, depth: Int) throws(TwinError) {
        for (key, value) in object {
            let memberPath = path + "." + key
            try checkKey(key, path: memberPath)
            try checkValue(value, path: memberPath, depth: depth)
        }
    }

    /// Checks a value held by a container at `depth`.
    private func checkValue(_ value: JSONValue, path: String, depth: Int) throws(TwinError) {
        switch value {
        case .string(let text):
            let length = text.utf8.count
            if length > limits.maxStringLength {
                throw .stringValueTooLong(path: path, length: length, limit: limits.maxStringLength)
            }
        case .integer(let number):
            if !limits.integerRange.contains(number) {
                throw .integerOutOfRange(path: path, value: number, range: limits.integerRange)
            }
        case .object(let object):
            try checkDepth(depth + 1, path: path)
            try checkMembers(of: object, path: path, depth: depth + 1)
        case .array(let elements):
            try checkDepth(depth + 1, path: path)
            for (index, element) in elements.enumerated() {
                let elementPath = path + "[\(index)]"
                if element.isNull { throw .nullInArray(path: elementPath) }
                try checkValue(element, path: elementPath, depth: depth + 1)
            }
        case .null, .bool, .double:
            break
        }
    }

    private func checkDepth(_ depth: Int, path: String) throws(TwinError) {
        if depth > limits.maxDepth { throw .tooDeep(path: path, depth: depth, limit: limits.maxDepth) }
    }

    private func checkKey(_ key: String, path: String) throws(TwinError) {
        let length = key.utf8.count
        if length > limits.maxKeyLength {
            throw .keyTooLong(path: path, length: length, limit: limits.maxKeyLength)
        }
        for scalar in key.unicodeScalars {
            let reason: String? = switch scalar {
            case ".": "contains '.'"
            case " ": "contains a space"
            case "$": "contains '$', which IoT Hub reserves for system properties such as $version"
            case _ where TwinLimits.isControl(scalar):
                "contains the control character U+\(JSONParseError.hex(UInt16(scalar.value), width: 4))"
            default: nil
            }
            if let reason { throw .invalidKey(path: path, reason: reason) }
        }
    }
}
