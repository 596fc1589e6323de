import Foundation

/// Decodes the encoded images that data sets hold. JPEG is decoded by TurboJPEG; PNG is recognised
/// and rejected with a hint, since no PNG library is linked.
enum ImageDecoder {
    static func decode(_ data: Data, codec: JPEGCodec, source: String) throws -> RGBImage {
        try data.withUnsafeBytes { try decode($0, codec: codec, source: source) }
    }

    static func decode(_ bytes: UnsafeRawBufferPointer, codec: JPEGCodec, source: String) throws -> RGBImage {
        if bytes.count >= 8, Array(bytes.prefix(8)) == [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A] {
            throw JPEGError(source: source, reason: "PNG images are not supported; convert the data set to JPEG")
        }
        return try codec.decode(bytes, source: source)
    }
}

extension RGBImage {
    /// This image resampled to `width` x `height` with bilinear interpolation, pixel centres aligned
    /// as in OpenCV's `INTER_LINEAR` (source x = (x + 0.5) * scale - 0.5, clamped at the borders).
    /// Returns the image itself when it already has that size.
    public func resized(width newWidth: Int, height newHeight: Int) -> RGBImage {
        precondition(newWidth > 0 && newHeight > 0, "resize to \(newWidth)x\(newHeight)")
        if newWidth == width && newHeight == height { return self }
        struct Tap { var low: Int; var high: Int; var weight: Float }
        func taps(_ count: Int, from source: Int) -> [Tap] {
            let scale = Float(source) / Float(count)
            return (0..<count).map { target in
                let position = max(0, (Float(target) + 0.5) * scale - 0.5)
                let low = min(Int(position), source - 1)
                return Tap(low: low, high: min(low + 1, source - 1), weight: position - Float(low))
            }
        }
        let columns = taps(newWidth, from: width), rows = taps(newHeight, from: height)
        var output = [UInt8](repeating: 0, count: newWidth * newHeight * 3)
        pixels.withUnsafeBufferPointer { input in
            output.withUnsafeMutableBufferPointer { out in
                for (y, row) in rows.enumerated() {
                    let top = row.low * width * 3, bottom = row.high * width * 3
                    for (x, column) in columns.enumerated() {
                        let left = column.low * 3, right = column.high * 3
                        for channel in 0..<3 {
                            let upper = Float(input[top + left + channel]) * (1 - column.weight)
                                + Float(input[top + right + channel]) * column.weight
                            let lower = Float(input[bottom + left + channel]) * (1 - column.weight)
                                + Float(input[bottom + right + channel]) * column.weight
                            let value = upper * (1 - row.weight) + lower * row.weight
                            out[(y * newWidth + x) * 3 + channel] = UInt8(min(255, max(0, value.rounded())))
                        }
                    }
                }
            }
        }
        return RGBImage(width: newWidth, height: newHeight, pixels: output)
    }
}
