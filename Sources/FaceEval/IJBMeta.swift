import Foundation

/// One face of an IJB-B/IJB-C set: its loose crop, template and media, 5 landmarks and detector score.
public struct IJBFace: Sendable, Equatable {
    /// File name under `loose_crop/`.
    public var imageName: String
    public var templateID: Int
    public var mediaID: Int
    /// Left eye, right eye, nose, left and right mouth corner, in the crop's pixel coordinates. Parsed as
    /// float32, as insightface parses them.
    public var landmarks: [SIMD2<Double>]
    public var detectorScore: Float
    /// The face's line in the landmark file, for error messages.
    public var line: Int

    public init(imageName: String, templateID: Int, mediaID: Int, landmarks: [SIMD2<Double>],
                detectorScore: Float, line: Int) {
        self.imageName = imageName
        self.templateID = templateID
        self.mediaID = mediaID
        self.landmarks = landmarks
        self.detectorScore = detectorScore
        self.line = line
    }
}

/// The 1:1 verification pairs of templates, stored column-wise (IJB-C has 15.7 million).
public struct IJBPairs: Sendable, Equatable {
    public var template1: [Int32] = []
    public var template2: [Int32] = []
    public var isSame: [Bool] = []
    public var count: Int { isSame.count }
}

/// The meta data of an IJB-B or IJB-C set in insightface's layout (recognition/_evaluation_/ijb), where `<root>`
/// is the target's folder (IJB_release/IJBC) or the folder above it (IJB_release; see `setFolder`):
///
///     <root>/meta/<target>_face_tid_mid.txt          "image_name template_id media_id"
///     <root>/meta/<target>_template_pair_label.txt   "template_id_1 template_id_2 label" (label 1 = same)
///     <root>/meta/<target>_name_5pts_score.txt       "image_name x1 y1 x2 y2 x3 y3 x4 y4 x5 y5 score"
///     <root>/loose_crop/<image_name>
///
/// where `<target>` is "ijbb" or "ijbc". Line i of the landmark file describes the same image as line i of
/// the template/media file (insightface relies on that order; we check the names agree).
public struct IJBMeta: Sendable {
    public var faces: [IJBFace]
    public var pairs: IJBPairs
    /// Where the loose crops are.
    public var imageDirectory: URL

    public init(faces: [IJBFace], pairs: IJBPairs, imageDirectory: URL) {
        self.faces = faces
        self.pairs = pairs
        self.imageDirectory = imageDirectory
    }

    /// The folder holding `target`'s meta/ and loose_crop/: `root` itself when it holds meta/ (the target's own
    /// folder, as ijb_11.py's `--image-path IJB_release/IJBC`), else `root/<target>` (the release folder,
    /// insightface's `IJB_release`, holding IJBB/ and IJBC/).
    public static func setFolder(root: URL, target: String) throws -> URL {
        let candidates = [root, root.appendingPathComponent(target), root.appendingPathComponent(target.uppercased())]
        let found = candidates.first { candidate in
            var isDirectory: ObjCBool = false
            return FileManager.default.fileExists(atPath: candidate.appendingPathComponent("meta").path,
                                                  isDirectory: &isDirectory) && isDirectory.boolValue
        }
        guard let found else { throw EvaluationError.noIJBSet(root: root.path, target: target.uppercased()) }
        return found
    }

    /// Loads `meta/...` for `target` ("IJBB" or "IJBC", any case) from the set folder under `root` (`setFolder`).
    public static func load(root: URL, target: String) throws -> IJBMeta {
        let prefix = target.lowercased()
        let root = try setFolder(root: root, target: target)
        let meta = root.appendingPathComponent("meta")
        func parser(_ name: String) throws -> MetaFileParser {
            try MetaFileParser(contentsOf: meta.appendingPathComponent(name), displayName: "meta/\(name)")
        }
        let faces = try parseFaces(templateMedia: try parser("\(prefix)_face_tid_mid.txt"),
                                   landmarks: try parser("\(prefix)_name_5pts_score.txt"))
        let pairs = try parsePairs(try parser("\(prefix)_template_pair_label.txt"))
        return IJBMeta(faces: faces, pairs: pairs, imageDirectory: root.appendingPathComponent("loose_crop"))
    }

    /// Parses the contents of the three meta files; `names` label them in errors.
    public static func parse(templateMedia: Data, landmarks: Data, pairs: Data, imageDirectory: URL,
                             names: (templateMedia: String, landmarks: String, pairs: String)) throws -> IJBMeta {
        let faces = try parseFaces(templateMedia: MetaFileParser(data: templateMedia, file: names.templateMedia),
                                   landmarks: MetaFileParser(data: landmarks, file: names.landmarks))
        return IJBMeta(faces: faces, pairs: try parsePairs(MetaFileParser(data: pairs, file: names.pairs)),
                       imageDirectory: imageDirectory)
    }

    static func parseFaces(templateMedia: MetaFileParser, landmarks: MetaFileParser) throws -> [IJBFace] {
        var faces: [IJBFace] = []
        var lines: [Int] = []
        try templateMedia.forEachLine { tokens, line in
            guard tokens.count == 3, let template = templateMedia.integer(tokens[1]),
                  let media = templateMedia.integer(tokens[2]) else {
                throw templateMedia.malformed(line, expected: "\"image_name template_id media_id\" (3 fields, integer ids)",
                                              tokens: tokens)
            }
            faces.append(IJBFace(imageName: templateMedia.text(tokens[0]), templateID: template, mediaID: media,
                                 landmarks: [], detectorScore: 0, line: 0))
            lines.append(line)
        }
        var index = 0
        try landmarks.forEachLine { tokens, line in
            let expected = "\"image_name x1 y1 x2 y2 x3 y3 x4 y4 x5 y5 score\" (12 fields)"
            guard tokens.count == 12 else {
                throw landmarks.malformed(line, expected: expected + ", found \(tokens.count) fields", tokens: tokens)
            }
            let numbers = tokens.dropFirst().map(landmarks.float)
            guard numbers.allSatisfy({ $0 != nil }) else {
                throw landmarks.malformed(line, expected: expected + " with numeric coordinates and score",
                                          tokens: tokens)
            }
            guard index < faces.count else {
                throw landmarks.malformed(line, expected: "at most \(faces.count) lines, one per line of "
                                          + templateMedia.file, tokens: tokens)
            }
            let name = landmarks.text(tokens[0])
            guard name == faces[index].imageName else {
                throw landmarks.malformed(line, expected: "image \"\(faces[index].imageName)\" as on line "
                                          + "\(lines[index]) of \(templateMedia.file)", tokens: tokens)
            }
            let values = numbers.map { Double($0!) }
            faces[index].landmarks = (0..<5).map { SIMD2(values[2 * $0], values[2 * $0 + 1]) }
            faces[index].detectorScore = numbers[10]!
            faces[index].line = line
            index += 1
        }
        guard index == faces.count else {
            throw EvaluationError.countMismatch(what: "lines of \(landmarks.file) (one per line of \(templateMedia.file))",
                                                expected: faces.count, found: index)
        }
        return faces
    }

    static func parsePairs(_ parser: MetaFileParser) throws -> IJBPairs {
        var pairs = IJBPairs()
        try parser.forEachLine { tokens, line in
            guard tokens.count == 3, let t1 = parser.integer(tokens[0]), let t2 = parser.integer(tokens[1]),
                  let label = parser.integer(tokens[2]), label == 0 || label == 1,
                  let id1 = Int32(exactly: t1), let id2 = Int32(exactly: t2) else {
                throw parser.malformed(line, expected: "\"template_id_1 template_id_2 label\" (integer ids, label 0 or 1)",
                                       tokens: tokens)
            }
            pairs.template1.append(id1)
            pairs.template2.append(id2)
            pairs.isSame.append(label == 1)
        }
        return pairs
    }
}
