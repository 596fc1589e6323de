import Engine
import NN

/// arcface_torch's weight update (train_v2.py): `loss.backward()` runs every step on the unscaled loss, so
/// gradients add up across steps; on every `stepsPerUpdate`-th step (its `gradient_acc`) the backbone's
/// gradient norm is clipped at 5, the optimiser steps both parameter groups and every gradient is zeroed.
struct GradientAccumulation {
    /// arcface_torch's `clip_grad_norm_(backbone.parameters(), max_norm=5)`; the head is not clipped.
    static let maxBackboneGradientNorm: Float = 5

    let backboneParameters: [Parameter]
    let optimizer: any Optimizer
    let stepsPerUpdate: Int

    init(backboneParameters: [Parameter], optimizer: any Optimizer, stepsPerUpdate: Int) {
        precondition(stepsPerUpdate > 0, "gradient_acc is validated positive by TrainingConfig")
        self.backboneParameters = backboneParameters
        self.optimizer = optimizer
        self.stepsPerUpdate = stepsPerUpdate
    }

    /// Back-propagates `loss` of global step `step` (1-based, as arcface_torch counts) and, when `step` is a
    /// multiple of `stepsPerUpdate`, updates the weights. Returns whether the weights changed.
    @discardableResult
    func backward(_ loss: Tensor, step: Int) throws -> Bool {
        try loss.backward()
        guard step % stepsPerUpdate == 0 else { return false }
        clipGradNorm(backboneParameters, maxNorm: Self.maxBackboneGradientNorm)
        optimizer.step()
        optimizer.zeroGrad()
        return true
    }
}
