import CTurboJPEG
import Foundation

/// A JPEG that could not be decoded or encoded; `source` names the file or record it came from.
public struct JPEGError: Error, CustomStringConvertible {
    public var source: String
    public var reason: String
    public var description: String { "\(source): \(reason)" }
}

/// JPEG decoding and encoding through libjpeg-turbo's TurboJPEG API.
///
/// A codec owns TurboJPEG handles, which are not thread-safe: use one codec per thread.
public final class JPEGCodec {
    private var decoder: tjhandle
    private let encoder: tjhandle

    public init() {
        guard let decoder = tjInitDecompress(), let encoder = tjInitCompress() else {
            fatalError("TurboJPEG could not allocate a handle (out of memory)")
        }
        self.decoder = decoder
        self.encoder = encoder
    }

    deinit {
        tjDestroy(decoder)
        tjDestroy(encoder)
    }

    /// The most pixels a decoded image may have (8192 x 8192).
    public static let largestPixelCount = 1 << 26

    /// Decodes JPEG bytes to RGB. `source` names the bytes' origin in errors.
    public func decode(_ bytes: UnsafeRawBufferPointer, source: String) throws -> RGBImage {
        guard let base = bytes.baseAddress?.assumingMemoryBound(to: UInt8.self), bytes.count > 0 else {
            throw JPEGError(source: source, reason: "empty image data")
        }
        var width: Int32 = 0, height: Int32 = 0, subsampling: Int32 = 0, colorspace: Int32 = 0
        guard tjDecompressHeader3(decoder, base, UInt(bytes.count), &width, &height, &subsampling, &colorspace) == 0,
              width > 0, height > 0
        else {
            let reason = message(decoder)
            resetDecoder()
            throw JPEGError(source: source, reason: "not a JPEG (\(reason))")
        }
        // The header alone sets the buffer: a 43-byte file declaring 32,000 x 32,000 pixels asked for 3 GB (found
        // by the jpeg fuzz target). Face images are far smaller than this bound.
        guard Int(width) * Int(height) <= Self.largestPixelCount else {
            resetDecoder()
            throw JPEGError(source: source, reason: "\(width) x \(height) pixels: larger than any face image (at most \(Self.largestPixelCount))")
        }
        // The accurate integer DCT (no TJFLAG_FASTDCT), as PIL and OpenCV decode: the fast DCT shifts red and
        // blue by about one level on average on face crops (up to 8), which training data should not carry.
        // TurboJPEG reports warnings (e.g. premature end of data) with a non-zero status too; a corrupt image
        // must not pass silently, so every non-zero status is an error, and TJFLAG_STOPONWARNING stops at the
        // first one instead of decoding the missing rest as gray. The buffer is not zeroed first (a failed
        // decode throws it away): a 35-byte file declaring 16,256 x 4,120 pixels cost 0.3 s in zeroing 200 MB
        // (the jpeg fuzz target's find; on a loaded machine, past its 10 s timeout).
        let count = Int(width) * Int(height) * 3
        var status: Int32 = 0
        let pixels = [UInt8](unsafeUninitializedCapacity: count) { out, initialized in
            status = tjDecompress2(decoder, base, UInt(bytes.count), out.baseAddress, width, 0, height,
                                   Int32(TJPF_RGB.rawValue), TJFLAG_STOPONWARNING)
            initialized = count
        }
        guard status == 0 else {
            let reason = message(decoder)
            resetDecoder()
            throw JPEGError(source: source, reason: "corrupt JPEG (\(reason))")
        }
        return RGBImage(width: Int(width), height: Int(height), pixels: pixels)
    }

    public func decode(_ data: Data, source: String) throws -> RGBImage {
        try data.withUnsafeBytes { try decode($0, source: source) }
    }

    /// Encodes RGB to JPEG at `quality` (1...100) with 4:2:0 chroma subsampling.
    public func encode(_ image: RGBImage, quality: Int = 95) throws -> Data {
        var output: UnsafeMutablePointer<UInt8>? = nil
        var size: UInt = 0
        let status = image.pixels.withUnsafeBufferPointer { input in
            tjCompress2(encoder, input.baseAddress, Int32(image.width), 0, Int32(image.height),
                        Int32(TJPF_RGB.rawValue), &output, &size, Int32(TJSAMP_420.rawValue),
                        Int32(max(1, min(100, quality))), 0)
        }
        defer { if let output { tjFree(output) } }
        guard status == 0, let output else {
            throw JPEGError(source: "encoder", reason: message(encoder))
        }
        return Data(bytes: output, count: Int(size))
    }

    /// After a failed decode libjpeg-turbo 2.1 can leave the handle mid-stream, so that the next good
    /// image fails too ("missing SOS marker"): start again from a fresh handle.
    private func resetDecoder() {
        guard let fresh = tjInitDecompress() else { fatalError("TurboJPEG could not allocate a handle (out of memory)") }
        tjDestroy(decoder)
        decoder = fresh
    }

    private func message(_ handle: tjhandle) -> String {
        String(cString: tjGetErrorStr2(handle))
    }
}
