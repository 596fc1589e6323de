import Randomness
import Foundation

/// Renders a synthetic face into an RGB pixel buffer.
///
/// Every shape is analytic (ellipses, bands and boxes given by approximate signed distances, smooth
/// gradients), evaluated once per pixel in face coordinates after undoing the pose, and blended with
/// one-pixel anti-aliased edges. Rendering uses Float arithmetic on one thread per image, so the bytes
/// depend only on the identity, the conditions and the size.
public enum FaceRenderer {
    /// Float buffers reused from one image to the next on a thread: fresh 150 KB buffers per image cost
    /// more in page faults than the rendering itself.
    public final class Workspace {
        var buffer: [Float] = []
        var temporary: [Float] = []
        public init() {}
    }

    /// Renders `identity` under `conditions` as a `size` x `size` image. `noise` draws the sensor noise.
    public static func render(_ identity: FaceIdentity, _ conditions: ImageConditions, size: Int,
                              noise: inout SplitMix64, workspace: Workspace = Workspace()) -> RGBImage {
        precondition(size > 0, "image size must be positive")
        let count = size * size * 3
        if workspace.buffer.count != count {
            workspace.buffer = [Float](repeating: 0, count: count)
            workspace.temporary = [Float](repeating: 0, count: count)
        }
        workspace.buffer.withUnsafeMutableBufferPointer { out in
            let scene = Scene(identity, conditions, size: size)
            for y in 0..<size {
                for x in 0..<size {
                    let color = scene.shade(x: x, y: y)
                    let index = (y * size + x) * 3
                    out[index] = color.x; out[index + 1] = color.y; out[index + 2] = color.z
                }
            }
        }
        for _ in 0..<conditions.blurPasses { blur121(&workspace.buffer, &workspace.temporary, size: size) }
        if conditions.noiseSigma > 0 { addNoise(&workspace.buffer, sigma: conditions.noiseSigma, &noise) }
        var pixels = [UInt8](repeating: 0, count: count)
        workspace.buffer.withUnsafeBufferPointer { values in
            pixels.withUnsafeMutableBufferPointer { bytes in
                for index in 0..<values.count {
                    // Adding 1.5 * 2^23 leaves round-to-nearest-even(value) in the low mantissa bits: a
                    // branch-free rounding that vectorises (the library call and checked conversion do not).
                    let shifted = min(max(values[index] * 255, 0), 255) + 12_582_912
                    bytes[index] = UInt8(truncatingIfNeeded: shifted.bitPattern)
                }
            }
        }
        return RGBImage(width: size, height: size, pixels: pixels)
    }

    /// Sensor noise: each channel of each pixel gets an offset of standard deviation `sigma`, drawn from a
    /// triangular distribution by table look-up: 10 bits per channel, six channels per 64-bit draw.
    static func addNoise(_ buffer: inout [Float], sigma: Float, _ rng: inout SplitMix64) {
        var generator = rng
        let scale = sigma
        triangularQuantiles.withUnsafeBufferPointer { table in
            buffer.withUnsafeMutableBufferPointer { values in
                var index = 0
                var bits: UInt64 = 0, left = 0
                while index < values.count {
                    if left == 0 { bits = generator.next(); left = 6 }
                    values[index] += table[Int(bits & 0x3FF)] * scale
                    bits >>= 10; left -= 1
                    index += 1
                }
            }
        }
        rng = generator
    }

    /// The 1024 quantiles (i + 0.5) / 1024 of the triangular distribution on [-sqrt 6, sqrt 6] (unit
    /// variance); computed with square roots only, which IEEE 754 rounds identically everywhere.
    static let triangularQuantiles: [Float] = (0..<1024).map { index in
        let u = (Float(index) + 0.5) / 1024
        let unitWidth = u < 0.5 ? (2 * u).squareRoot() - 1 : 1 - (2 * (1 - u)).squareRoot()
        return unitWidth * Float(6).squareRoot()
    }

    /// One pass of the separable [1, 2, 1] / 4 kernel in x and then y, edges clamped.
    static func blur121(_ buffer: inout [Float], _ temporary: inout [Float], size: Int) {
        let stride = size * 3
        buffer.withUnsafeMutableBufferPointer { imageBuffer in
            temporary.withUnsafeMutableBufferPointer { rowsBuffer in
                let image = imageBuffer.baseAddress!, rows = rowsBuffer.baseAddress!
                for row in Swift.stride(from: 0, to: size * stride, by: stride) {
                    let input = image + row, output = rows + row
                    for c in 0..<3 {
                        // The first and last pixels repeat themselves beyond the edge.
                        output[c] = 0.75 * input[c] + 0.25 * input[c + 3]
                        output[stride - 3 + c] = 0.75 * input[stride - 3 + c] + 0.25 * input[stride - 6 + c]
                    }
                    for i in 3..<(stride - 3) {
                        output[i] = 0.25 * input[i - 3] + 0.5 * input[i] + 0.25 * input[i + 3]
                    }
                }
                for y in 0..<size {
                    let up = rows + max(y - 1, 0) * stride, here = rows + y * stride
                    let down = rows + min(y + 1, size - 1) * stride, output = image + y * stride
                    for i in 0..<stride {
                        output[i] = 0.25 * up[i] + 0.5 * here[i] + 0.25 * down[i]
                    }
                }
            }
        }
    }
}

typealias RGB = SIMD3<Float>

extension SynthColor {
    var rgb: RGB { RGB(red, green, blue) }
}

/// An axis-aligned ellipse centred at the origin, with the reciprocals the per-pixel test needs.
private struct Ellipse {
    let rx: Float, ry: Float
    let inverseX2: Float, inverseY2: Float
    let minRadius: Float

    init(_ rx: Float, _ ry: Float) {
        self.rx = rx; self.ry = ry
        inverseX2 = 1 / (rx * rx); inverseY2 = 1 / (ry * ry)
        minRadius = min(rx, ry)
    }

    private init(rx: Float, ry: Float, inverseX2: Float, inverseY2: Float) {
        self.rx = rx; self.ry = ry
        self.inverseX2 = inverseX2; self.inverseY2 = inverseY2
        minRadius = min(rx, ry)
    }

    /// The ellipse with its x radius multiplied by `factor` (one division instead of two).
    func narrowed(by factor: Float) -> Ellipse {
        Ellipse(rx: rx * factor, ry: ry, inverseX2: inverseX2 / (factor * factor), inverseY2: inverseY2)
    }
}

/// Everything the per-pixel evaluation needs, precomputed once per image.
private struct Scene {
    let identity: FaceIdentity
    let conditions: ImageConditions
    let size: Int
    /// Face units per pixel, for one-pixel soft edges.
    let pixel: Float
    let inversePixel: Float
    // Pose: face = R(-rotation) (image - shift) / scale.
    let cosine: Float, sine: Float, inverseScale: Float
    // Colours.
    let skin: RGB, hair: RGB, lips: RGB, iris: RGB, brow: RGB
    let backgroundTop: RGB, backgroundBottom: RGB
    let gain: RGB
    // Derived geometry.
    let eyeHalfHeight: Float
    let browY: Float
    let noseBottom: Float
    let mouthCurve: Float
    let lipGap: Float
    let eyeCos: Float, eyeSin: Float
    let browCos: Float, browSin: Float
    let hairTop: Float
    let inverseSize: Float
    let inverseHeadHeight: Float
    let hairEllipse: Ellipse, earEllipse: Ellipse, lensEllipse: Ellipse, eyeEllipse: Ellipse
    let irisEllipse: Ellipse, pupilEllipse: Ellipse, tipEllipse: Ellipse, nostrilEllipse: Ellipse
    let moleEllipses: [Ellipse]
    let headEllipse: Ellipse
    let socketInverseX2: Float, socketInverseY2: Float
    let inverseBrowHalfLength: Float, inverseNoseLength: Float, inverseMouthHalfWidth: Float
    /// The skin pattern sin(f1 x' + p1) sin(f2 y' + p2) in face coordinates (x' = x - yaw): both phases are
    /// affine in the pixel column and row, so each sine splits by the angle-addition formula into a column
    /// factor (sin u1, cos u1, sin u2, cos u2) and a row factor (cos v1, sin v1, cos v2, sin v2), computed
    /// once per image instead of two sines per pixel.
    let textureColumns: [SIMD4<Float>]
    let textureRows: [SIMD4<Float>]
    let inverseLightWidth: Float, inverseLightHeight: Float

    init(_ identity: FaceIdentity, _ conditions: ImageConditions, size: Int) {
        self.identity = identity
        self.conditions = conditions
        self.size = size
        inverseScale = 1 / conditions.scale
        pixel = 2 / (Float(size) * conditions.scale)
        inversePixel = 1 / pixel
        cosine = cos(conditions.rotation)
        sine = sin(conditions.rotation)
        skin = identity.skin.rgb
        hair = identity.hair.rgb
        lips = identity.lips.rgb
        iris = identity.iris.rgb
        brow = identity.hair.rgb * 0.75
        backgroundTop = conditions.backgroundTop.rgb
        backgroundBottom = conditions.backgroundBottom.rgb
        gain = conditions.colorCast.rgb * conditions.brightness
        eyeHalfHeight = identity.eyeHalfWidth * identity.eyeAspect
        browY = identity.eyeY - identity.eyeHalfWidth * identity.eyeAspect - identity.browGap - conditions.browRaise
        noseBottom = identity.eyeY + identity.noseLength
        mouthCurve = identity.mouthCurve + 0.07 * conditions.smile
        lipGap = 0.07 * conditions.mouthOpen
        eyeCos = cos(identity.eyeTilt); eyeSin = sin(identity.eyeTilt)
        browCos = cos(identity.browTilt); browSin = sin(identity.browTilt)
        hairTop = -identity.headHalfHeight - identity.hairVolume
        inverseSize = 1 / Float(size)
        inverseHeadHeight = 1 / identity.headHalfHeight
        let pixel = self.pixel
        hairEllipse = Ellipse(identity.headHalfWidth + identity.hairVolume, identity.headHalfHeight + identity.hairVolume)
        earEllipse = Ellipse(identity.earSize * 0.55, identity.earSize)
        let width = identity.eyeHalfWidth
        lensEllipse = Ellipse(width * 1.55, width * 1.05)
        eyeEllipse = Ellipse(width, max(eyeHalfHeight * conditions.eyeOpen, pixel * 0.5))
        let irisRadius = identity.irisSize * eyeHalfHeight
        irisEllipse = Ellipse(irisRadius, irisRadius)
        pupilEllipse = Ellipse(irisRadius * 0.45, irisRadius * 0.45)
        tipEllipse = Ellipse(identity.noseHalfWidth * 0.8, 0.055)
        nostrilEllipse = Ellipse(0.036, 0.02)
        moleEllipses = identity.moles.map { Ellipse($0.z, $0.z) }
        headEllipse = Ellipse(identity.headHalfWidth, identity.headHalfHeight)
        let step = 2 / Float(size)
        let f1 = identity.textureFrequency.x * inverseScale, f2 = identity.textureFrequency.y * inverseScale
        let (cosine, sine) = (self.cosine, self.sine)
        textureColumns = (0..<size).map { x in
            let dx = (Float(x) + 0.5) * step - 1 - conditions.shiftX
            let u1 = f1 * cosine * dx, u2 = -f2 * sine * dx
            return SIMD4(sin(u1), cos(u1), sin(u2), cos(u2))
        }
        textureRows = (0..<size).map { y in
            let dy = (Float(y) + 0.5) * step - 1 - conditions.shiftY
            let v1 = f1 * sine * dy - identity.textureFrequency.x * conditions.yaw + identity.texturePhase.x
            let v2 = f2 * cosine * dy + identity.texturePhase.y
            return SIMD4(cos(v1), sin(v1), cos(v2), sin(v2))
        }
        socketInverseX2 = 1 / (width * width * 2.6)
        socketInverseY2 = 1 / (eyeHalfHeight * eyeHalfHeight * 5)
        inverseBrowHalfLength = 1 / (identity.browLength * width)
        inverseNoseLength = 1 / max(identity.noseLength, 0.05)
        inverseMouthHalfWidth = 1 / (identity.mouthHalfWidth * (1 + 0.15 * conditions.smile))
        inverseLightWidth = 1 / (identity.headHalfWidth + identity.hairVolume + 0.05)
        inverseLightHeight = 1 / (identity.headHalfHeight + identity.hairVolume + 0.05)
    }

    @inline(__always) func coverage(_ distance: Float) -> Float {
        min(max(0.5 - distance * inversePixel, 0), 1)
    }

    /// Approximate signed distance to an axis-aligned ellipse centred at the origin (first-order:
    /// implicit value over gradient length), exact enough for one-pixel edges.
    @inline(__always) func distance(_ x: Float, _ y: Float, _ e: Ellipse) -> Float {
        let ax = x * e.inverseX2, ay = y * e.inverseY2
        let implicit = x * ax + y * ay - 1
        return implicit / max(2 * (ax * ax + ay * ay).squareRoot(), 1e-3)
    }

    /// Coverage of an ellipse, with a cheap bounding-box rejection first.
    @inline(__always) func coverage(_ x: Float, _ y: Float, _ e: Ellipse) -> Float {
        if abs(x) > e.rx + pixel || abs(y) > e.ry + pixel { return 0 }
        let ax = x * e.inverseX2, ay = y * e.inverseY2
        let implicit = x * ax + y * ay - 1
        // Inside, the gradient of the implicit function is at most 2 / min(rx, ry) long, so a point whose
        // implicit value is below -pixel / min(rx, ry) lies at least half a pixel inside: fully covered.
        // This skips the square root for the many interior pixels.
        if implicit * e.minRadius < -pixel { return 1 }
        return coverage(implicit / max(2 * (ax * ax + ay * ay).squareRoot(), 1e-3))
    }

    @inline(__always) func shade(x: Int, y: Int) -> RGB {
        let c = conditions, id = identity
        let imageX = (Float(x) + 0.5) * 2 * inverseSize - 1
        let imageY = (Float(y) + 0.5) * 2 * inverseSize - 1
        let dx = imageX - c.shiftX, dy = imageY - c.shiftY
        let fx = (cosine * dx + sine * dy) * inverseScale
        let fy = (-sine * dx + cosine * dy) * inverseScale

        var color = backgroundTop + (backgroundBottom - backgroundTop) * ((imageY + 1) * 0.5)
        // Light falls on the background from the same side, more weakly.
        var light = 1 + 0.3 * c.lightStrength * (imageX * c.lightDirection.x + imageY * c.lightDirection.y)

        let headWidth = id.headHalfWidth
        // Hair behind the head: a wider ellipse cut off at the hair length.
        var foreground: Float = 0
        let hairBack = coverage(fx, fy + 0.02, hairEllipse) * coverage(fy - id.hairLength)
        if hairBack > 0 {
            color += (hair - color) * hairBack
            foreground = hairBack
        }
        // Ears at the eye line.
        let earX = abs(fx) - headWidth
        let ear = coverage(earX, fy - id.eyeY - 0.06, earEllipse)
        if ear > 0 {
            color += (skin * 0.92 - color) * ear
            foreground = max(foreground, ear)
        }
        // Head: the half-width narrows below the cheek line towards the chin.
        let taper = 1 - id.jawTaper * max(0, fy) * inverseHeadHeight
        let head = coverage(fx, fy, fy > 0 ? headEllipse.narrowed(by: taper) : headEllipse)
        if head > 0 {
            foreground = max(foreground, head)
            let face = faceColor(fx, fy, texture: textureColumns[x] * textureRows[y])
            color += (face - color) * head
        }
        if foreground > 0 {
            // Lambertian-like shading of an ellipsoid: the normal's image-plane part is the position
            // relative to the head, clamped to the unit disc.
            var nx = fx * inverseLightWidth, ny = fy * inverseLightHeight
            let length2 = nx * nx + ny * ny
            if length2 > 1 { let n = 1 / length2.squareRoot(); nx *= n; ny *= n }
            let faceLight = 1 + 0.9 * c.lightStrength * (nx * c.lightDirection.x + ny * c.lightDirection.y)
            light += (faceLight - light) * foreground
        }
        color = color * light * gain
        color = (color - 0.5) * c.contrast + 0.5
        if let box = c.occluder, imageX > box.x, imageX < box.z, imageY > box.y, imageY < box.w {
            color = c.occluderColor.rgb * c.brightness
        }
        return color
    }

    /// The colour inside the head outline at face coordinates (fx, fy).
    /// `texture`: the column and row factors of the skin pattern at this pixel, multiplied.
    private func faceColor(_ fx: Float, _ fy: Float, texture: SIMD4<Float>) -> RGB {
        let c = conditions, id = identity
        var color = skin
        // Inner features shift with yaw; the nose, standing out further, shifts more.
        let ix = fx - c.yaw
        // Low-frequency skin pattern.
        if id.textureAmplitude > 0 {
            let pattern = (texture.x + texture.y) * (texture.z + texture.w)
            color *= 1 + id.textureAmplitude * pattern
        }
        // Blush on the cheeks.
        let cheekX = abs(ix) - id.eyeSpacing - 0.03, cheekY = fy - id.eyeY - 0.28
        let cheek = 1 - (cheekX * cheekX + cheekY * cheekY) * (1 / 0.03)
        if cheek > 0 { color += (RGB(0.85, 0.35, 0.35) - color) * (id.blush * 0.35 * cheek) }
        // Freckles: at most one dot per 0.06-wide cell over the cheeks and nose, placed by a hash.
        if id.freckles > 0, abs(cheekY + 0.09) < 0.2, abs(ix) < id.eyeSpacing + 0.18 {
            color = freckle(ix, fy, color)
        }
        for (mole, shape) in zip(id.moles, moleEllipses) {
            let m = coverage(ix - mole.x, fy - mole.y, shape)
            if m > 0 { color += (skin * 0.35 - color) * m }
        }
        // Beard and moustache: hair colour over the lower face, below the nose.
        if id.beard > 0, fy > noseBottom + 0.02 {
            let density = id.beard * 0.85 * min(1, (fy - noseBottom - 0.02) * 12)
            color += (hair - color) * density
        }
        // Hair over the forehead, above a curved hairline.
        let hairline = id.hairlineY + id.hairlineCurve * fx * fx
        let fringe = coverage(fy - hairline)
        if fringe > 0 { color += (hair - color) * fringe }

        color = eyesAndBrows(ix, fy, color)
        color = nose(fx - 1.3 * c.yaw, fy, color)
        color = mouth(ix, fy, color)
        return color
    }

    private func freckle(_ x: Float, _ y: Float, _ color: RGB) -> RGB {
        let cell: Float = 0.075
        let cellX = (x * (1 / cell)).rounded(.down), cellY = (y * (1 / cell)).rounded(.down)
        var rng = SplitMix64.derived(identity.textureSeed, UInt64(bitPattern: Int64(cellX)),
                                     UInt64(bitPattern: Int64(cellY)))
        guard rng.chance(identity.freckles * 0.6) else { return color }
        let centerX = (cellX + rng.uniform(0.25, 0.75)) * cell, centerY = (cellY + rng.uniform(0.25, 0.75)) * cell
        let radius = rng.uniform(0.01, 0.02)
        let dot = coverage(x - centerX, y - centerY, Ellipse(radius, radius))
        return color + (skin * 0.6 - color) * (dot * 0.8)
    }

    private func eyesAndBrows(_ x: Float, _ y: Float, _ base: RGB) -> RGB {
        let c = conditions, id = identity
        var color = base
        let side: Float = x < 0 ? -1 : 1
        let localX = x * side - id.eyeSpacing  // mirrored: positive towards the outer corner
        let localY = y - id.eyeY
        if abs(localX) > 0.5 || localY < -0.55 || localY > 0.3 { return color }
        // Tilt: outer corners up for positive tilt.
        let ex = eyeCos * localX - eyeSin * localY
        let ey = eyeSin * localX + eyeCos * localY
        let width = id.eyeHalfWidth
        if c.sunglasses {
            let lens = coverage(ex, ey, lensEllipse)
            if lens > 0 { color += (RGB(0.04, 0.04, 0.05) - color) * lens }
            let bridge = coverage(abs(y - id.eyeY + width * 0.4) - 0.015) * coverage(abs(x) - id.eyeSpacing)
            if bridge > 0 { color += (RGB(0.1, 0.1, 0.1) - color) * bridge }
        } else {
            // Eye socket shadow, then the eye: white, iris, pupil, upper lid line.
            let socket = 1 - ex * ex * socketInverseX2 - ey * ey * socketInverseY2
            if socket > 0 { color *= 1 - 0.12 * socket }
            let eye = coverage(ex, ey, eyeEllipse)
            if eye > 0 {
                var inner = RGB(0.92, 0.91, 0.88)
                let irisX = ex - c.gaze.x * width * side, irisY = ey - c.gaze.y * eyeHalfHeight
                let irisCover = coverage(irisX, irisY, irisEllipse)
                if irisCover > 0 {
                    inner += (iris - inner) * irisCover
                    let pupil = coverage(irisX, irisY, pupilEllipse)
                    if pupil > 0 { inner += (RGB(0.02, 0.02, 0.02) - inner) * pupil }
                }
                color += (inner - color) * eye
            }
            // The lid line: a thin dark ring on the upper half of the eye outline.
            if ey < 0.02 {
                let lid = coverage(abs(distance(ex, ey, eyeEllipse)) - 0.015)
                if lid > 0 { color += (RGB(0.12, 0.08, 0.07) - color) * (lid * 0.9) }
            }
        }
        // Brow: a curved bar above the eye.
        let bx = localX, by = y - browY
        let rx = browCos * bx - browSin * by, ry = browSin * bx + browCos * by
        let halfLength = id.browLength * width
        if abs(rx) < halfLength + pixel {
            let t = rx * inverseBrowHalfLength
            let centre = -id.browArch * (1 - t * t)
            let distance = max(abs(ry - centre) - id.browThickness * (1 - 0.4 * t * t) * 0.5, abs(rx) - halfLength)
            let bar = coverage(distance)
            if bar > 0 { color += (brow - color) * (bar * 0.9) }
        }
        return color
    }

    private func nose(_ x: Float, _ y: Float, _ base: RGB) -> RGB {
        let id = identity
        var color = base
        if y < id.eyeY || y > noseBottom + 0.05 || abs(x) > id.noseHalfWidth * 1.6 { return color }
        // Shadows along both sides of the bridge, widening towards the tip.
        let t = (y - id.eyeY) * inverseNoseLength
        let sideX = id.noseHalfWidth * (0.45 + 0.55 * t)
        let side = coverage(abs(abs(x) - sideX) - 0.015) * min(1, t * 2)
        if side > 0 { color *= 1 - id.noseShade * side }
        // A lit tip and two dark nostrils.
        let tip = coverage(x, y - noseBottom + 0.045, tipEllipse)
        if tip > 0 { color *= 1 + 0.08 * tip }
        let nostril = coverage(abs(x) - id.noseHalfWidth * 0.55, y - noseBottom, nostrilEllipse)
        if nostril > 0 { color += (skin * 0.35 - color) * nostril }
        return color
    }

    private func mouth(_ x: Float, _ y: Float, _ base: RGB) -> RGB {
        let id = identity
        var color = base
        let halfWidth = id.mouthHalfWidth * (1 + 0.15 * conditions.smile)
        let localY = y - id.mouthY
        if abs(x) > halfWidth + pixel || abs(localY) > 0.25 { return color }
        let t = x * inverseMouthHalfWidth
        let thickness = id.lipThickness * (1 - t * t).squareRoot()
        // Corners up for a smile: the centre line rises towards the corners.
        let centre = -mouthCurve * t * t
        let offset = localY - centre
        let upperBottom = -lipGap * 0.5 * (1 - t * t), lowerTop = lipGap * 0.5 * (1 - t * t)
        let inWidth = coverage(abs(x) - halfWidth)
        let upper = coverage(max(upperBottom - thickness - offset, offset - upperBottom)) * inWidth
        let lower = coverage(max(lowerTop - offset, offset - lowerTop - thickness * 1.25)) * inWidth
        let gap = coverage(max(upperBottom - offset, offset - lowerTop)) * inWidth
        if gap > 0 { color += (RGB(0.22, 0.06, 0.06) - color) * gap }
        if upper > 0 { color += (lips * 0.9 - color) * upper }
        if lower > 0 { color += (lips - color) * lower }
        // The line between closed lips.
        if lipGap < pixel {
            let line = coverage(abs(offset) - 0.006) * inWidth
            if line > 0 { color += (lips * 0.45 - color) * line }
        }
        return color
    }
}
