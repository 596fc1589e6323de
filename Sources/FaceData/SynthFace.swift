import Randomness
import Foundation

/// An RGB colour with channels in [0, 1].
public struct SynthColor: Sendable, Equatable {
    public var red: Float, green: Float, blue: Float

    public init(_ red: Float, _ green: Float, _ blue: Float) {
        self.red = red; self.green = green; self.blue = blue
    }

    func scaled(_ factor: Float) -> SynthColor { SynthColor(red * factor, green * factor, blue * factor) }

    func mixed(with other: SynthColor, _ amount: Float) -> SynthColor {
        SynthColor(red + (other.red - red) * amount, green + (other.green - green) * amount,
                   blue + (other.blue - blue) * amount)
    }
}

/// The fixed facial parameters of one synthetic identity.
///
/// Geometry is in face coordinates: x to the right and y downwards, both in [-1, 1] across the image when
/// the pose is neutral (no shift, rotation or scaling), the face centred near the origin.
public struct FaceIdentity: Sendable, Equatable {
    // Head: an ellipse whose lower half narrows towards the chin.
    public var headHalfWidth: Float
    public var headHalfHeight: Float
    /// Fraction by which the half-width shrinks from the cheeks to the chin.
    public var jawTaper: Float
    public var skin: SynthColor
    public var earSize: Float

    // Hair.
    public var hair: SynthColor
    /// y of the hairline on the forehead's centre line.
    public var hairlineY: Float
    /// How much the hairline dips at the temples (a widow's peak when negative).
    public var hairlineCurve: Float
    /// Extra hair width beyond the head at the top.
    public var hairVolume: Float
    /// y down to which hair falls beside the face (short hair: about the eye line; long: below the chin).
    public var hairLength: Float
    /// 0 clean shaven ... 1 full beard.
    public var beard: Float

    // Eyes.
    public var eyeSpacing: Float
    public var eyeY: Float
    public var eyeHalfWidth: Float
    /// Eye height as a fraction of its width.
    public var eyeAspect: Float
    /// Outer corners up (positive) or down, in radians.
    public var eyeTilt: Float
    public var iris: SynthColor
    /// Iris radius as a fraction of the eye half-height.
    public var irisSize: Float

    // Brows.
    public var browGap: Float
    public var browThickness: Float
    public var browLength: Float
    public var browArch: Float
    public var browTilt: Float

    // Nose.
    public var noseLength: Float
    public var noseHalfWidth: Float
    /// Strength of the shadow along the nose's side.
    public var noseShade: Float

    // Mouth.
    public var mouthY: Float
    public var mouthHalfWidth: Float
    public var lipThickness: Float
    public var lips: SynthColor
    /// Resting curvature: corners up (positive) or down.
    public var mouthCurve: Float

    // Texture: moles, freckles, blush and a low-frequency skin pattern.
    public var moles: [SIMD3<Float>]  // (x, y, radius)
    public var freckles: Float
    public var blush: Float
    public var texturePhase: SIMD4<Float>
    public var textureFrequency: SIMD2<Float>
    public var textureAmplitude: Float
    /// Seeds the identity's freckle pattern.
    public var textureSeed: UInt64

    /// Draws an identity. `spread` scales how far each parameter strays from the population mean:
    /// smaller values make identities more alike (harder to tell apart).
    public static func random(_ rng: inout SplitMix64, spread: Float) -> FaceIdentity {
        // A parameter around `mean` with half-range `halfRange * spread`.
        func around(_ mean: Float, _ halfRange: Float) -> Float {
            mean + halfRange * spread * rng.symmetric()
        }
        func clamp01(_ value: Float) -> Float { min(max(value, 0), 1) }

        // Skin tones along a dark-to-light line, with a little hue jitter.
        let tone = clamp01(around(0.55, 0.5))
        let dark = SynthColor(0.36, 0.23, 0.16), light = SynthColor(0.96, 0.80, 0.69)
        var skin = dark.mixed(with: light, tone)
        skin.red = clamp01(skin.red + around(0, 0.04))
        skin.green = clamp01(skin.green + around(0, 0.03))
        skin.blue = clamp01(skin.blue + around(0, 0.04))

        let hairPalette: [SynthColor] = [
            SynthColor(0.07, 0.05, 0.04), SynthColor(0.22, 0.14, 0.08), SynthColor(0.42, 0.28, 0.15),
            SynthColor(0.75, 0.60, 0.36), SynthColor(0.55, 0.22, 0.10), SynthColor(0.62, 0.60, 0.58),
        ]
        let hairA = hairPalette[rng.below(hairPalette.count)], hairB = hairPalette[rng.below(hairPalette.count)]
        let hair = hairA.mixed(with: hairB, rng.unit() * 0.5)
        let irisPalette: [SynthColor] = [
            SynthColor(0.30, 0.18, 0.08), SynthColor(0.15, 0.09, 0.05), SynthColor(0.25, 0.45, 0.65),
            SynthColor(0.30, 0.45, 0.25), SynthColor(0.45, 0.47, 0.50),
        ]
        let iris = irisPalette[rng.below(irisPalette.count)]

        let moleCount = rng.below(4)
        var moles: [SIMD3<Float>] = []
        for _ in 0..<moleCount {
            moles.append(SIMD3(rng.uniform(-0.5, 0.5), rng.uniform(-0.4, 0.7), rng.uniform(0.02, 0.045)))
        }
        let hasBeard = rng.chance(0.25)

        return FaceIdentity(
            headHalfWidth: around(0.76, 0.08), headHalfHeight: around(0.98, 0.08),
            jawTaper: around(0.22, 0.15), skin: skin, earSize: around(0.14, 0.04),
            hair: hair, hairlineY: around(-0.6, 0.2), hairlineCurve: around(0.15, 0.25),
            hairVolume: around(0.1, 0.1), hairLength: around(0.15, 0.75),
            beard: hasBeard ? rng.uniform(0.4, 1) : 0,
            eyeSpacing: around(0.31, 0.06), eyeY: around(-0.08, 0.08), eyeHalfWidth: around(0.15, 0.035),
            eyeAspect: around(0.5, 0.12), eyeTilt: around(0, 0.15), iris: iris, irisSize: around(0.8, 0.15),
            browGap: around(0.15, 0.05), browThickness: around(0.05, 0.025), browLength: around(1.2, 0.25),
            browArch: around(0.05, 0.05), browTilt: around(0, 0.15),
            noseLength: around(0.34, 0.07), noseHalfWidth: around(0.11, 0.035), noseShade: around(0.25, 0.12),
            mouthY: around(0.6, 0.07), mouthHalfWidth: around(0.24, 0.06), lipThickness: around(0.055, 0.025),
            lips: skin.mixed(with: SynthColor(0.65, 0.25, 0.25), around(0.45, 0.25)),
            mouthCurve: around(0, 0.05),
            moles: moles, freckles: rng.chance(0.2) ? rng.uniform(0.3, 1) : 0, blush: around(0.2, 0.2),
            texturePhase: SIMD4(rng.uniform(0, 6.283), rng.uniform(0, 6.283), rng.uniform(0, 6.283),
                                rng.uniform(0, 6.283)),
            textureFrequency: SIMD2(rng.uniform(4, 12), rng.uniform(4, 12)),
            textureAmplitude: around(0.04, 0.03), textureSeed: rng.next())
    }
}

/// What changes from one image of an identity to the next: pose, light, expression, occlusion, camera.
public struct ImageConditions: Sendable, Equatable {
    // Pose (the face's position in the image).
    public var shiftX: Float, shiftY: Float
    /// In-plane rotation, radians.
    public var rotation: Float
    public var scale: Float
    /// Inner features' horizontal offset relative to the head outline: a cheap stand-in for yaw.
    public var yaw: Float

    // Illumination.
    /// Direction of the light in the image plane (x, y), unit length.
    public var lightDirection: SIMD2<Float>
    /// 0: flat ambient light ... 1: strong side light.
    public var lightStrength: Float
    public var brightness: Float
    public var contrast: Float
    /// Per-channel white-balance gains.
    public var colorCast: SynthColor

    // Background: a vertical gradient between two colours.
    public var backgroundTop: SynthColor
    public var backgroundBottom: SynthColor

    // Expression.
    public var smile: Float
    public var mouthOpen: Float
    /// 1 fully open ... 0 closed.
    public var eyeOpen: Float
    public var browRaise: Float
    /// Gaze offset of the irises, as a fraction of the eye half-width.
    public var gaze: SIMD2<Float>

    // Occlusion.
    public var sunglasses: Bool
    /// An opaque rectangle in image coordinates: (x0, y0, x1, y1), or nil.
    public var occluder: SIMD4<Float>?
    public var occluderColor: SynthColor

    // Camera.
    /// Passes of a [1, 2, 1] / 4 blur, in each direction.
    public var blurPasses: Int
    /// Standard deviation of the sensor noise (triangular distribution), on the [0, 1] scale.
    public var noiseSigma: Float
    public var jpegQuality: Int

    /// Draws one image's conditions. `strength` scales every nuisance: 0 gives a frontal, evenly lit,
    /// neutral, clean face; 1 is the default mix; larger values are harsher.
    public static func random(_ rng: inout SplitMix64, strength: Float, imageSize: Int) -> ImageConditions {
        let s = strength
        let angle = rng.uniform(0, 6.2831855)
        func color(_ low: Float, _ high: Float) -> SynthColor {
            SynthColor(rng.uniform(low, high), rng.uniform(low, high), rng.uniform(low, high))
        }
        let top = color(0.05, 0.95)
        let bottom = top.mixed(with: color(0.05, 0.95), rng.unit())
        let sunglasses = rng.chance(0.10 * s)
        var occluder: SIMD4<Float>? = nil
        if rng.chance(0.15 * s) {
            // A hand, a scarf or a microphone: a box entering from one edge of the frame.
            let width = rng.uniform(0.3, 0.8), height = rng.uniform(0.3, 0.7)
            let side = rng.below(4)
            let along = rng.uniform(-0.8, 0.8)
            switch side {
            case 0: occluder = SIMD4(-1.2, along - height / 2, -1 + width, along + height / 2)
            case 1: occluder = SIMD4(1 - width, along - height / 2, 1.2, along + height / 2)
            case 2: occluder = SIMD4(along - width / 2, 1 - height, along + width / 2, 1.2)
            default: occluder = SIMD4(along - width / 2, -1.2, along + width / 2, -1 + height * 0.6)
            }
        }
        let occluderColor = color(0.05, 0.9)
        // Blur in pixels grows with the image so that it removes the same share of detail at every size.
        let blurScale = Float(imageSize) / 112
        let blurPasses = Int((rng.unit() * rng.unit() * 6 * s * blurScale).rounded(.down))
        let quality = 95 - Int(rng.unit() * 55 * min(s, 1))

        return ImageConditions(
            shiftX: 0.08 * s * rng.symmetric(), shiftY: 0.08 * s * rng.symmetric(),
            rotation: 0.22 * s * rng.symmetric(), scale: 1 + 0.12 * s * rng.symmetric(),
            yaw: 0.07 * s * rng.symmetric(),
            lightDirection: SIMD2(cos(angle), sin(angle)), lightStrength: min(1, 0.7 * s * rng.unit()),
            brightness: 1 + 0.35 * s * rng.symmetric(), contrast: 1 + 0.3 * s * rng.symmetric(),
            colorCast: SynthColor(1 + 0.12 * s * rng.symmetric(), 1 + 0.06 * s * rng.symmetric(),
                                  1 + 0.12 * s * rng.symmetric()),
            backgroundTop: top, backgroundBottom: bottom,
            smile: min(1, s * rng.unit() * rng.unit() * 1.5), mouthOpen: min(1, s * max(0, rng.symmetric())),
            eyeOpen: max(0.1, 1 - s * rng.unit() * rng.unit() * 0.9), browRaise: 0.04 * s * rng.symmetric(),
            gaze: SIMD2(0.3 * s * rng.symmetric(), 0.2 * s * rng.symmetric()),
            sunglasses: sunglasses, occluder: occluder, occluderColor: occluderColor,
            blurPasses: blurPasses, noiseSigma: 0.03 * s * rng.unit(), jpegQuality: quality)
    }
}
