import Collective
import Engine
import Foundation
import NN

/// The update stages of arcface_torch's step (train_v2.py with DDP): `loss.backward()` runs every step on
/// the unscaled loss, so gradients add up across steps; on every `stepsPerUpdate`-th step (its
/// `gradient_acc`) the backbone's gradients are averaged over the ranks (DDP's allreduce; nothing to do in a
/// world of one), their norm is clipped at 5, the optimiser steps both parameter groups and every gradient
/// is zeroed. The head's gradients stay with the rank that owns the classes.
struct GradientAccumulation {
    /// arcface_torch's `clip_grad_norm_(backbone.parameters(), max_norm=5)`; the head is not clipped.
    static let maxBackboneGradientNorm: Float = 5
    let backboneParameters: [Parameter]
    let optimizer: any Optimizer
    let stepsPerUpdate: Int
    let communicator: any Communicator
    /// Wall-clock seconds spent in the gradient exchange so far.
    private(set) var exchangeSeconds = 0.0

    init(backboneParameters: [Parameter], optimizer: any Optimizer, stepsPerUpdate: Int,
         communicator: any Communicator = SingleProcess()) {
        precondition(stepsPerUpdate > 0, "gradient_acc is validated positive by TrainingConfig")
        self.backboneParameters = backboneParameters
        self.optimizer = optimizer
        self.stepsPerUpdate = stepsPerUpdate
        self.communicator = communicator
    }

    /// Whether global step `step` (1-based, as arcface_torch counts) ends with a weight update.
    func isUpdateStep(_ step: Int) -> Bool { step % stepsPerUpdate == 0 }

    /// All stages after the loss: back-propagates `loss` of step `step` and, when it is an update step,
    /// exchanges, clips and applies the gradients. Returns whether the weights changed.
    @discardableResult
    mutating func backward(_ loss: Tensor, step: Int) throws -> Bool {
        try loss.backward()
        guard isUpdateStep(step) else { return false }
        try exchangeGradients()
        clip()
        apply()
        return true
    }

    /// Replaces every backbone gradient by its mean over the ranks (timed).
    mutating func exchangeGradients() throws {
        guard communicator.worldSize > 1 else { return }
        let start = Self.now()
        defer { exchangeSeconds += Self.now() - start }
        try averageGradients(of: backboneParameters, over: communicator)
    }

    /// Clips the backbone's gradient norm at 5.
    func clip() {
        clipGradNorm(backboneParameters, maxNorm: Self.maxBackboneGradientNorm)
    }

    /// The optimiser's step, then every gradient zeroed.
    func apply() {
        optimizer.step()
        optimizer.zeroGrad()
    }

    static func now() -> Double {
        var time = timespec()
        clock_gettime(CLOCK_MONOTONIC, &time)
        return Double(time.tv_sec) + Double(time.tv_nsec) * 1e-9
    }
}
