import Foundation

/// A value built by the pickle reader. Lists and reduced objects are classes because pickle's memo
/// shares them by reference and APPENDS/BUILD mutate them in place.
indirect enum PickleValue {
    case none
    case bool(Bool)
    case int(Int)
    case bytes(Data)
    case string(String)
    case tuple([PickleValue])
    case list(PickleList)
    case global(module: String, name: String)
    case object(PickleObject)
    case dict(PickleDict)
    case float(Double)
    /// A persistent id (BINPERSID): what a torch.save pickle refers to its storages by.
    case persistent(PickleValue)
    /// A MARK on the stack (never a finished value).
    case mark

    var kind: String {
        switch self {
        case .none: return "None"
        case .bool: return "bool"
        case .int: return "int"
        case .bytes: return "bytes"
        case .string: return "str"
        case .tuple: return "tuple"
        case .list: return "list"
        case .global(let module, let name): return "\(module).\(name)"
        case .object(let object): return "object from \(object.callable.kind)"
        case .dict: return "dict"
        case .float: return "float"
        case .persistent: return "persistent id"
        case .mark: return "mark"
        }
    }
}

final class PickleList {
    var items: [PickleValue]
    init(_ items: [PickleValue] = []) { self.items = items }
}

/// A dict (or an OrderedDict, which REDUCE builds as one) in insertion order.
final class PickleDict {
    var entries: [(key: PickleValue, value: PickleValue)] = []
}

/// `callable(*arguments)` as REDUCE recorded it, with the state BUILD gave it.
final class PickleObject {
    let callable: PickleValue
    var arguments: [PickleValue]
    var state: PickleValue?
    init(callable: PickleValue, arguments: [PickleValue]) {
        self.callable = callable
        self.arguments = arguments
    }
}

/// A minimal pickle virtual machine for verification sets and torch.save state_dicts: the opcodes that
/// protocol 2 (Python 2) and protocols 3-5 (Python 3) use for tuples, lists, dicts, bytes, numbers and
/// booleans. Any other opcode, and any global outside the caller's allowed set (NumPy's array
/// reconstruction by default), is rejected with its byte offset: nothing is ever executed.
struct PickleReader {
    static let numpyGlobals: Set<String> = [
        "numpy.core.multiarray._reconstruct", "numpy._core.multiarray._reconstruct",
        "numpy.core.numeric._frombuffer", "numpy._core.numeric._frombuffer",
        "numpy.ndarray", "numpy.dtype", "_codecs.encode", "__builtin__.bytes", "builtins.bytes",
    ]

    let bytes: [UInt8]
    let file: String
    /// "module.name" of every global the pickle may name, and what the file should hold (for messages).
    let allowedGlobals: Set<String>
    let contents: String
    private var position = 0
    private var stack: [PickleValue] = []
    /// How many tuples and persistent ids each stack value nests, side by side with `stack` (and with each memo
    /// entry): Swift frees such a chain recursively, so a pickle of 35,000 TUPLE1s overflowed the stack when
    /// its value was dropped (the torchpickle fuzz target's find). Lists, dicts and objects are emptied before
    /// they are freed, so only these value nestings count.
    private var nestings: [Int] = []
    private var memo: [Int: (value: PickleValue, nesting: Int)] = [:]
    /// Far above any file this reader is for (a state_dict nests 3, a verification .bin 2).
    static let maximumNesting = 100
    /// Every container built, for breaking cycles afterwards.
    private var lists: [PickleList] = []
    private var objects: [PickleObject] = []
    private var dicts: [PickleDict] = []

    init(bytes: [UInt8], file: String, allowedGlobals: Set<String> = numpyGlobals,
         contents: String = "a verification .bin holds only lists of bytes or NumPy arrays and booleans") {
        self.bytes = bytes
        self.file = file
        self.allowedGlobals = allowedGlobals
        self.contents = contents
    }

    /// Runs the pickle to its STOP opcode and hands the value left on the stack to `interpret`.
    /// Pickles can build cycles (a list appended to itself through the memo); every list and object is
    /// emptied afterwards so that reference counting frees them.
    static func load<Result>(_ data: Data, file: String, allowedGlobals: Set<String> = numpyGlobals,
                             contents: String = "a verification .bin holds only lists of bytes or NumPy arrays and booleans",
                             interpret: (PickleValue) throws -> Result) throws -> Result {
        try load(bytes: [UInt8](data), from: 0, file: file, allowedGlobals: allowedGlobals, contents: contents,
                 interpret: interpret).result
    }

    /// Runs the pickle that starts at `start` in `bytes` (files such as PyTorch's legacy format hold several in a
    /// row) and returns its interpretation and the offset just past its STOP.
    static func load<Result>(bytes: [UInt8], from start: Int, file: String, allowedGlobals: Set<String>, contents: String,
                             interpret: (PickleValue) throws -> Result) throws -> (result: Result, end: Int) {
        var reader = PickleReader(bytes: bytes, file: file, allowedGlobals: allowedGlobals, contents: contents)
        reader.position = start
        defer {
            for dict in reader.dicts { dict.entries.removeAll() }
            for list in reader.lists { list.items.removeAll() }
            for object in reader.objects { object.state = nil; object.arguments.removeAll() }
        }
        let value = try reader.run()
        return (try interpret(value), reader.position)
    }

    private mutating func run() throws -> PickleValue {
        while true {
            let opcodeOffset = position
            guard position < bytes.count else {
                throw failure(at: position, "file truncated: expected an opcode, found the end of the file (no STOP)")
            }
            let opcode = bytes[position]
            position += 1
            switch opcode {
            case 0x80:  // PROTO
                let version = try readInteger(1, opcode: opcode, at: opcodeOffset)
                guard version <= 5 else { throw failure(at: opcodeOffset, "unsupported pickle protocol \(version)") }
            case 0x95:  // FRAME: a length prefix for the opcodes that follow; nothing to do
                _ = try readInteger(8, opcode: opcode, at: opcodeOffset)
            case 0x2E:  // STOP
                guard stack.count == 1, let value = stack.first else {
                    throw failure(at: opcodeOffset, "STOP with \(stack.count) values on the stack, expected 1")
                }
                if case .mark = value { throw failure(at: opcodeOffset, "STOP with an unclosed MARK") }
                return value
            case 0x28: push(.mark)  // MARK
            case 0x5D:  // EMPTY_LIST
                let list = PickleList()
                lists.append(list)
                push(.list(list))
            case 0x7D:  // EMPTY_DICT
                let dict = PickleDict()
                dicts.append(dict)
                push(.dict(dict))
            case 0x73:  // SETITEM
                let value = try pop(opcodeOffset), key = try pop(opcodeOffset)
                try dict(at: stack.count - 1, opcodeOffset).entries.append((key, value))
            case 0x75:  // SETITEMS
                let items = try popToMark(opcodeOffset)
                guard items.count % 2 == 0 else { throw failure(at: opcodeOffset, "SETITEMS with an odd number of values") }
                let dict = try dict(at: stack.count - 1, opcodeOffset)
                for index in stride(from: 0, to: items.count, by: 2) { dict.entries.append((items[index], items[index + 1])) }
            case 0x51:  // BINPERSID
                let nesting = nestings.last ?? 0
                try push(.persistent(try pop(opcodeOffset)), nesting: nesting + 1, at: opcodeOffset)
            case 0x8A:  // LONG1: a little-endian two's-complement integer of n bytes
                let count = try readInteger(1, opcode: opcode, at: opcodeOffset)
                guard count <= 8 else { throw failure(at: opcodeOffset, "LONG1 of \(count) bytes does not fit 64 bits") }
                let raw = try readBytes(count, opcode: opcode, at: opcodeOffset)
                var value: UInt64 = 0
                for (shift, byte) in raw.enumerated() { value |= UInt64(byte) << (8 * UInt64(shift)) }
                if count > 0 && count < 8 && raw.last! >= 0x80 { value |= ~UInt64(0) << (8 * UInt64(count)) }
                push(.int(Int(Int64(bitPattern: value))))
            case 0x47:  // BINFLOAT: big-endian float64
                let raw = try readBytes(8, opcode: opcode, at: opcodeOffset)
                var bits: UInt64 = 0
                for byte in raw { bits = bits << 8 | UInt64(byte) }
                push(.float(Double(bitPattern: bits)))
            case 0x29: push(.tuple([]))  // EMPTY_TUPLE
            case 0x4E: push(.none)  // NONE
            case 0x88: push(.bool(true))  // NEWTRUE
            case 0x89: push(.bool(false))  // NEWFALSE
            case 0x4B: push(.int(try readInteger(1, opcode: opcode, at: opcodeOffset)))  // BININT1
            case 0x4D: push(.int(try readInteger(2, opcode: opcode, at: opcodeOffset)))  // BININT2
            case 0x4A:  // BININT: signed 32-bit
                push(.int(Int(Int32(truncatingIfNeeded: try readInteger(4, opcode: opcode, at: opcodeOffset)))))
            case 0x55, 0x43:  // SHORT_BINSTRING, SHORT_BINBYTES
                let length = try readInteger(1, opcode: opcode, at: opcodeOffset)
                push(.bytes(Data(try readBytes(length, opcode: opcode, at: opcodeOffset))))
            case 0x54, 0x42:  // BINSTRING (signed length), BINBYTES (unsigned length)
                let length = try readInteger(4, opcode: opcode, at: opcodeOffset)
                push(.bytes(Data(try readBytes(length, opcode: opcode, at: opcodeOffset))))
            case 0x8E, 0x96:  // BINBYTES8, BYTEARRAY8 (NumPy's in-band buffers with protocol 5)
                let length = try readInteger(8, opcode: opcode, at: opcodeOffset)
                push(.bytes(Data(try readBytes(length, opcode: opcode, at: opcodeOffset))))
            case 0x8C, 0x58:  // SHORT_BINUNICODE, BINUNICODE
                let length = try readInteger(opcode == 0x8C ? 1 : 4, opcode: opcode, at: opcodeOffset)
                let raw = try readBytes(length, opcode: opcode, at: opcodeOffset)
                guard let text = String(bytes: raw, encoding: .utf8) else {
                    throw failure(at: opcodeOffset, "string of \(length) bytes is not valid UTF-8")
                }
                push(.string(text))
            case 0x71, 0x72:  // BINPUT, LONG_BINPUT
                let index = try readInteger(opcode == 0x71 ? 1 : 4, opcode: opcode, at: opcodeOffset)
                memo[index] = (try top(opcodeOffset), nestings[nestings.count - 1])
            case 0x94:  // MEMOIZE
                memo[memo.count] = (try top(opcodeOffset), nestings[nestings.count - 1])
            case 0x68, 0x6A:  // BINGET, LONG_BINGET
                let index = try readInteger(opcode == 0x68 ? 1 : 4, opcode: opcode, at: opcodeOffset)
                guard let entry = memo[index] else { throw failure(at: opcodeOffset, "memo entry \(index) was never stored") }
                try push(entry.value, nesting: entry.nesting, at: opcodeOffset)
            case 0x61:  // APPEND
                let item = try pop(opcodeOffset)
                try list(at: stack.count - 1, opcodeOffset).items.append(item)
            case 0x65:  // APPENDS
                let items = try popToMark(opcodeOffset)
                try list(at: stack.count - 1, opcodeOffset).items.append(contentsOf: items)
            case 0x74:  // TUPLE
                let (items, nesting) = try popToMarkWithNesting(opcodeOffset)
                try push(.tuple(items), nesting: nesting + 1, at: opcodeOffset)
            case 0x85, 0x86, 0x87:  // TUPLE1, TUPLE2, TUPLE3
                let count = Int(opcode - 0x84)
                guard stack.count >= count else { throw failure(at: opcodeOffset, "needs \(count) values, the stack has \(stack.count)") }
                let items = Array(stack.suffix(count))
                for item in items { if case .mark = item { throw failure(at: opcodeOffset, "a MARK inside a tuple") } }
                let nesting = nestings.suffix(count).max() ?? 0
                stack.removeLast(count)
                nestings.removeLast(count)
                try push(.tuple(items), nesting: nesting + 1, at: opcodeOffset)
            case 0x63:  // GLOBAL "module\nname\n"
                let module = try readLine(opcode: opcode, at: opcodeOffset)
                let name = try readLine(opcode: opcode, at: opcodeOffset)
                push(try global(module: module, name: name, at: opcodeOffset))
            case 0x93:  // STACK_GLOBAL
                let name = try pop(opcodeOffset), module = try pop(opcodeOffset)
                guard case .string(let moduleName) = module, case .string(let globalName) = name else {
                    throw failure(at: opcodeOffset, "STACK_GLOBAL needs two strings, found \(module.kind) and \(name.kind)")
                }
                push(try global(module: moduleName, name: globalName, at: opcodeOffset))
            case 0x52:  // REDUCE
                let arguments = try pop(opcodeOffset), callable = try pop(opcodeOffset)
                guard case .tuple(let values) = arguments, case .global = callable else {
                    throw failure(at: opcodeOffset, "REDUCE needs a global and a tuple, found \(callable.kind) and \(arguments.kind)")
                }
                push(try reduce(callable, values, at: opcodeOffset))
            case 0x62:  // BUILD
                let state = try pop(opcodeOffset)
                switch try top(opcodeOffset) {
                case .object(let object): object.state = state
                case .dict: break   // an OrderedDict's attributes (a state_dict's _metadata): not needed
                default: throw failure(at: opcodeOffset, "BUILD needs an object below its state")
                }
            default:
                throw failure(at: opcodeOffset, String(format: "unsupported pickle opcode 0x%02X", opcode)
                                  + (opcode >= 0x20 && opcode < 0x7F ? " ('\(Character(UnicodeScalar(opcode)))')" : "")
                                  + " (\(contents))")
            }
        }
    }

    private func global(module: String, name: String, at offset: Int) throws -> PickleValue {
        guard allowedGlobals.contains("\(module).\(name)") else {
            throw failure(at: offset, "refusing global \(module).\(name) (nothing is run: \(contents))")
        }
        return .global(module: module, name: name)
    }

    /// `_codecs.encode(text, 'latin1')` and `bytes()` are how Python 3 writes bytes under protocol 2:
    /// evaluate them. Everything else stays a recorded call for the NumPy decoder.
    private mutating func reduce(_ callable: PickleValue, _ arguments: [PickleValue], at offset: Int) throws -> PickleValue {
        if case .global("collections", "OrderedDict") = callable {
            guard arguments.isEmpty else { throw failure(at: offset, "OrderedDict() with arguments is not supported") }
            let dict = PickleDict()
            dicts.append(dict)
            return .dict(dict)
        }
        if case .global(_, "bytes") = callable {
            guard arguments.isEmpty else { throw failure(at: offset, "bytes() with arguments is not supported") }
            return .bytes(Data())
        }
        if case .global("_codecs", "encode") = callable {
            guard arguments.count == 2, case .string(let text) = arguments[0], case .string(let encoding) = arguments[1],
                  encoding == "latin1" || encoding == "latin-1" else {
                throw failure(at: offset, "_codecs.encode needs (str, 'latin1')")
            }
            var bytes: [UInt8] = []
            bytes.reserveCapacity(text.unicodeScalars.count)
            for scalar in text.unicodeScalars {
                guard scalar.value < 256 else { throw failure(at: offset, "latin1 text holds U+\(String(scalar.value, radix: 16))") }
                bytes.append(UInt8(scalar.value))
            }
            return .bytes(Data(bytes))
        }
        let object = PickleObject(callable: callable, arguments: arguments)
        objects.append(object)
        return .object(object)
    }

    private mutating func readBytes(_ count: Int, opcode: UInt8, at offset: Int) throws -> ArraySlice<UInt8> {
        guard count >= 0, count <= bytes.count - position else {
            throw failure(at: offset, String(format: "file truncated: opcode 0x%02X needs %d bytes, %d remain", opcode, count,
                                             bytes.count - position))
        }
        defer { position += count }
        return bytes[position..<(position + count)]
    }

    /// An unsigned little-endian integer of `size` bytes (lengths above Int.max are rejected).
    private mutating func readInteger(_ size: Int, opcode: UInt8, at offset: Int) throws -> Int {
        let raw = try readBytes(size, opcode: opcode, at: offset)
        var value: UInt64 = 0
        for (shift, byte) in raw.enumerated() { value |= UInt64(byte) << (8 * UInt64(shift)) }
        guard value <= UInt64(Int.max) else { throw failure(at: offset, "length \(value) is too large") }
        return Int(value)
    }

    private mutating func readLine(opcode: UInt8, at offset: Int) throws -> String {
        guard let end = bytes[position...].firstIndex(of: 0x0A) else {
            throw failure(at: offset, "file truncated: GLOBAL name without a newline")
        }
        defer { position = end + 1 }
        return String(decoding: bytes[position..<end], as: UTF8.self)
    }

    private func top(_ offset: Int) throws -> PickleValue {
        guard let value = stack.last else { throw failure(at: offset, "the stack is empty") }
        if case .mark = value { throw failure(at: offset, "expected a value, found a MARK") }
        return value
    }

    private mutating func pop(_ offset: Int) throws -> PickleValue {
        let value = try top(offset)
        stack.removeLast()
        nestings.removeLast()
        return value
    }

    /// Values that nest nothing (numbers, strings, globals, lists, dicts, objects: `nesting` 0).
    private mutating func push(_ value: PickleValue) {
        stack.append(value)
        nestings.append(0)
    }

    private mutating func push(_ value: PickleValue, nesting: Int, at offset: Int) throws {
        guard nesting <= Self.maximumNesting else {
            throw failure(at: offset, "tuples nested more than \(Self.maximumNesting) deep (\(contents))")
        }
        stack.append(value)
        nestings.append(nesting)
    }

    private mutating func popToMark(_ offset: Int) throws -> [PickleValue] {
        try popToMarkWithNesting(offset).items
    }

    /// The values above the topmost MARK, and the deepest nesting among them.
    private mutating func popToMarkWithNesting(_ offset: Int) throws -> (items: [PickleValue], nesting: Int) {
        guard let markIndex = stack.lastIndex(where: { if case .mark = $0 { return true } else { return false } }) else {
            throw failure(at: offset, "no MARK on the stack")
        }
        let items = Array(stack[(markIndex + 1)...])
        let nesting = nestings[(markIndex + 1)...].max() ?? 0
        stack.removeSubrange(markIndex...)
        nestings.removeSubrange(markIndex...)
        return (items, nesting)
    }

    private func dict(at index: Int, _ offset: Int) throws -> PickleDict {
        guard index >= 0, case .dict(let dict) = stack[index] else {
            throw failure(at: offset, "SETITEM(S) needs a dict below its values")
        }
        return dict
    }

    private func list(at index: Int, _ offset: Int) throws -> PickleList {
        guard index >= 0, case .list(let list) = stack[index] else {
            throw failure(at: offset, "APPEND needs a list, found \(index >= 0 ? stack[index].kind : "an empty stack")")
        }
        return list
    }

    private func failure(at offset: Int, _ message: String) -> DataFormatError {
        DataFormatError(file: file, location: "byte \(offset)", message: message)
    }
}

/// Writes pickles as Python 2's pickle module does with protocol 2 (the public .bin files' form).
struct PickleWriter {
    private(set) var bytes: [UInt8] = [0x80, 0x02]
    private var memoCount = 0

    /// Memoizes the object just written (Python 2 memoizes every string, list and tuple).
    mutating func put() {
        if memoCount < 256 {
            bytes += [0x71, UInt8(memoCount)]
        } else {
            bytes.append(0x72)
            bytes.appendLittleEndian(UInt32(memoCount))
        }
        memoCount += 1
    }

    mutating func string(_ data: Data) {
        if data.count < 256 {
            bytes += [0x55, UInt8(data.count)]
        } else {
            bytes.append(0x54)
            bytes.appendLittleEndian(UInt32(data.count))
        }
        bytes.append(contentsOf: data)
        put()
    }

    mutating func bool(_ value: Bool) { bytes.append(value ? 0x88 : 0x89) }

    /// An empty list, then its items in batches of 1000 (MARK ... APPENDS; APPEND for a lone item).
    mutating func list<Item>(_ items: [Item], _ writeItem: (inout PickleWriter, Item) -> Void) {
        bytes.append(0x5D)
        put()
        var start = 0
        while start < items.count {
            let batch = items[start..<min(start + 1000, items.count)]
            if batch.count == 1 {
                writeItem(&self, batch.first!)
                bytes.append(0x61)
            } else {
                bytes.append(0x28)
                for item in batch { writeItem(&self, item) }
                bytes.append(0x65)
            }
            start += batch.count
        }
    }

    mutating func tuple2() {
        bytes.append(0x86)
        put()
    }

    mutating func stop() { bytes.append(0x2E) }
}
