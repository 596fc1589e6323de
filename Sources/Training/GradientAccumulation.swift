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
    /// Wall-clock seconds spent in the gradient exchange so far (packing, starting and waiting for the
    /// buckets' sums, unpacking), during backward and after it.
    var exchangeSeconds: Double { exchange?.seconds ?? 0 }
    /// The overlapped average (in a world of more than one).
    private let exchange: TimedExchange?

    init(backboneParameters: [Parameter], optimizer: any Optimizer, stepsPerUpdate: Int,
         communicator: any Communicator = SingleProcess()) {
        precondition(stepsPerUpdate > 0, "gradient_acc is validated positive by TrainingConfig")
        self.backboneParameters = backboneParameters
        self.optimizer = optimizer
        self.stepsPerUpdate = stepsPerUpdate
        self.communicator = communicator
        exchange = communicator.worldSize > 1
            ? TimedExchange(GradientAverage(of: backboneParameters, over: communicator)) : nil
    }

    /// Whether global step `step` (1-based, as arcface_torch counts) ends with a weight update.
    func isUpdateStep(_ step: Int) -> Bool { step % stepsPerUpdate == 0 }

    /// All stages after the loss: back-propagates `loss` of step `step` and, when it is an update step,
    /// exchanges, clips and applies the gradients. Returns whether the weights changed.
    @discardableResult
    func backward(_ loss: Tensor, step: Int) throws -> Bool {
        try propagate(loss, step: step)
        guard isUpdateStep(step) else { return false }
        try exchangeGradients()
        clip()
        apply()
        return true
    }

    /// Back-propagates `loss` of step `step`. On an update step the backbone's gradient buckets start their
    /// average over the ranks as soon as backward has completed them, while it goes on with the layers below.
    func propagate(_ loss: Tensor, step: Int) throws {
        try loss.backward(observer: isUpdateStep(step) ? exchange : nil)
    }

    /// The end of the gradient exchange: starts the buckets not started yet and waits for every average.
    func exchangeGradients() throws {
        try exchange?.finish()
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
}

/// The gradient average with the time spent in it: each call the backward pass makes and `finish`.
private final class TimedExchange: BackwardObserver {
    let average: GradientAverage
    private(set) var seconds = 0.0

    init(_ average: GradientAverage) { self.average = average }

    private func timed(_ body: () throws -> Void) rethrows {
        let start = Trainer.now()
        defer { seconds += Trainer.now() - start }
        try body()
    }

    func gradientIsFinal(for leaf: Tensor) throws { try timed { try average.gradientIsFinal(for: leaf) } }
    func opIsDone() throws { try timed { try average.opIsDone() } }
    func finish() throws { try timed { try average.finish() } }
}
