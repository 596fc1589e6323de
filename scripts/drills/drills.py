#!/usr/bin/env python3
"""Reliability drills (issue #14 part 1): the real `haarface` binary is killed, runs out of disk, is handed
damaged checkpoints and meets a NaN, and each drill checks what must hold. Each prints what it tried and
what held, and the script exits 1 at the first thing that did not.

  kill       an uninterrupted reference run, then the same run SIGKILLed at 20 moments (seeded: a random
             step from training.log's progress plus a random delay, and on purpose inside a checkpoint's
             write, through HAARFACE_FAULT_KILL_IN_CHECKPOINT) and resumed each time: the final weights, every
             checkpoint tensor, metrics.csv's per-step losses and LRs and MHLR's decisions equal the reference's
             bit for bit.
  disk-full  a checkpoint file, a training.log line or a metrics.csv flush fails with ENOSPC
             (HAARFACE_FAULT_ENOSPC), and, as root, the output folder sits on a small tmpfs that fills up: the
             run stops naming the file and "No space left on device", the previous checkpoint is intact, the
             logs end with whole lines and replay, and the resumed run equals the reference.
  corrupt    every file of a checkpoint truncated and with a flipped byte: `--resume` refuses it, naming the
             file and what is wrong, and nothing in the output folder changes; a checkpoint from before
             manifests is accepted with a note.
  nan        NaN pixels at chosen steps (HAARFACE_FAULT_NONFINITE_STEP) with --skip-nonfinite: the run
             finishes, the count is in training.log, report.md and summary.json, and no checkpoint or model
             tensor is ever NaN.

Usage: python3 scripts/drills/drills.py [--quick] [--binary .build/release/haarface] [--seed N] [DRILL ...]
`make drills` runs the full drills (minutes on 2 cores); `--quick` (`make drills DRILLS_QUICK=1`) runs fewer of
each and is what `make test` runs (Tests/HaarFaceCLITests/DrillTests.swift). Needs NumPy.
"""
import argparse
import hashlib
import json
import os
import random
import re
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import threading
import time

import numpy as np

CHECKPOINT_FILES = ["backbone.safetensors", "head.safetensors", "optimizer.safetensors", "trainer.json", "manifest.txt"]
# trainer.json's fields that a resumed run must reproduce exactly (the others are timings and log sizes).
EXACT_STATE_KEYS = ["config", "globalStep", "headGenerator", "highestAccuracy", "loader", "schedule",
                    "skippedBadImages", "skippedNonFiniteSteps", "trace", "trainingImages"]


class DrillFailure(Exception):
    pass


def check(condition, message):
    if not condition:
        raise DrillFailure(message)


def say(kind, message):
    print(f"  {kind:5} {message}", flush=True)


def sha256(path):
    with open(path, "rb") as file:
        return hashlib.sha256(file.read()).hexdigest()


def folder_digest(folder):
    """Every file's relative path, size and SHA-256 (what `nothing changed` compares)."""
    digest = {}
    for root, _, files in os.walk(folder):
        for name in files:
            path = os.path.join(root, name)
            digest[os.path.relpath(path, folder)] = (os.path.getsize(path), sha256(path))
    return digest


def safetensors(path):
    """A safetensors file's tensors as NumPy arrays (F32, BF16 widened to float32, I64)."""
    with open(path, "rb") as file:
        data = file.read()
    (header_size,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + header_size])
    body = data[8 + header_size:]
    tensors = {}
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        start, end = entry["data_offsets"]
        raw = body[start:end]
        if entry["dtype"] == "F32":
            tensors[name] = np.frombuffer(raw, dtype="<f4")
        elif entry["dtype"] == "BF16":
            tensors[name] = (np.frombuffer(raw, dtype="<u2").astype(np.uint32) << 16).view(np.float32)
        elif entry["dtype"] == "I64":
            tensors[name] = np.frombuffer(raw, dtype="<i8")
        else:
            raise DrillFailure(f"{path}: tensor {name} has dtype {entry['dtype']}, which the drills do not read")
    return tensors


def non_finite_tensors(path):
    return [name for name, values in safetensors(path).items()
            if values.dtype.kind == "f" and not np.isfinite(values).all()]


def metrics_rows(path):
    """metrics.csv's rows without the speed column: (step, epoch, loss, lr) as the file spells them."""
    with open(path) as file:
        lines = file.read().split("\n")
    check(lines[-1] == "", f"{path}: does not end with a whole row: {lines[-1]!r}")
    return [tuple(line.split(",")[:4]) for line in lines[1:-1]]


def verification_lines(path):
    """training.log's verification lines without their time stamps."""
    with open(path) as file:
        return [line.split("-", 3)[-1] for line in file if re.search(r"-\[[^]]+\]\[\d+\]", line)]


def exact_state(path):
    with open(path) as file:
        state = json.load(file)
    exact = {key: state[key] for key in EXACT_STATE_KEYS}
    exact["config"] = {key: value for key, value in state["config"].items() if key != "output"}
    exact["verifications"] = [{key: value for key, value in record.items() if key != "trainingSeconds"}
                              for record in state["verifications"]]
    return exact


def ends_with_whole_line(path):
    with open(path, "rb") as file:
        data = file.read()
    return len(data) == 0 or data.endswith(b"\n")


class Drills:
    def __init__(self, binary, work, quick, seed):
        self.binary = os.path.abspath(binary)
        self.work = work
        self.quick = quick
        self.seed = seed
        # The tests' tiny set (TinyTraining.swift): 10 identities x 8 images at 16x16, 10 steps per epoch.
        self.epochs = 2 if quick else 8
        self.checkpoint_every = 5 if quick else 4
        self.steps = 10 * self.epochs
        self.data = os.path.join(work, "data")
        self._reference = None
        if not os.path.exists(os.path.join(self.data, "train.idx")):
            self.run_checked(["synth", "--identities", "10", "--images-per-identity", "8", "--image-size", "16", "--seed", "5",
                              "--pairs", "40", "--format", "rec", "--output", self.data])

    def fresh_output(self, name):
        """A drill's own output folder, emptied (a work folder given with --work may hold an earlier drill's)."""
        output = os.path.join(self.work, name)
        shutil.rmtree(output, ignore_errors=True)
        return output

    def train_arguments(self, output, extra=()):
        # MHLR with a threshold every Haar response is below decides after each patience of 8 steps, so that
        # the scheduler's state carries decisions across the kills. A log line every step shows the progress.
        return ["train", "--rec", self.data, "--val-targets", "synth_val", "--network", "r18", "--image-size", "16",
                "--embedding-size", "32", "--batch-size", "8", "--num-epoch", str(self.epochs), "--frequent", "1",
                "--verbose", "10", "--num-workers", "1", "--window", "4", "--threshold", "100",
                "--checkpoint-every", str(self.checkpoint_every), "--output", output, *extra]

    def run(self, arguments, environment=None):
        env = dict(os.environ)
        env.update(environment or {})
        return subprocess.run([self.binary, *arguments], env=env, capture_output=True, text=True)

    def run_checked(self, arguments, environment=None):
        result = self.run(arguments, environment)
        check(result.returncode == 0, f"haarface {' '.join(arguments)} exited {result.returncode}: {result.stderr[-2000:]}")
        return result

    def resume(self, output, environment=None):
        return self.run(["train", "--resume", "--output", output], environment)

    def reference(self):
        """The uninterrupted run every other run is compared with: made once per work folder (the quick drills
        that `make test` runs one by one share it), and made again when it is not this mode's."""
        if self._reference is None:
            output = os.path.join(self.work, "reference-quick" if self.quick else "reference")
            summary = os.path.join(output, "summary.json")
            if not os.path.exists(summary):
                shutil.rmtree(output, ignore_errors=True)
                self.run_checked(self.train_arguments(output))
            with open(summary) as file:
                self.reference_seconds = json.load(file)["trainingSeconds"]
            self._reference = output
            events = exact_state(os.path.join(output, "checkpoint", "trainer.json"))["schedule"]["events"]
            say("setup", f"reference run: {self.steps} steps, a checkpoint every {self.checkpoint_every}, "
                         f"{len(events)} MHLR decisions, {self.reference_seconds:.1f} s of training")
            check(len(events) >= 1, "the reference run made no MHLR decision: the drill would not test the scheduler's state")
        return self._reference

    def assert_matches_reference(self, output, label):
        """What an interrupted and resumed run must reproduce bit for bit; returns what held, in words."""
        reference = self.reference()
        check(sha256(os.path.join(output, "model.safetensors")) == sha256(os.path.join(reference, "model.safetensors")),
              f"{label}: model.safetensors differs from the uninterrupted run's")
        for name in CHECKPOINT_FILES[:3]:
            check(sha256(os.path.join(output, "checkpoint", name)) == sha256(os.path.join(reference, "checkpoint", name)),
                  f"{label}: checkpoint/{name} differs from the uninterrupted run's")
        rows, expected_rows = metrics_rows(os.path.join(output, "metrics.csv")), metrics_rows(os.path.join(reference, "metrics.csv"))
        check([int(row[0]) for row in rows] == list(range(1, self.steps + 1)),
              f"{label}: metrics.csv's steps are not 1...{self.steps} once each: {[row[0] for row in rows]}")
        for row, expected in zip(rows, expected_rows):
            check(row == expected, f"{label}: metrics.csv step {row[0]}: {row} where the uninterrupted run has {expected}")
        state = exact_state(os.path.join(output, "checkpoint", "trainer.json"))
        expected_state = exact_state(os.path.join(reference, "checkpoint", "trainer.json"))
        for key in expected_state:
            check(state[key] == expected_state[key], f"{label}: trainer.json's {key} differs from the uninterrupted run's")
        check(verification_lines(os.path.join(output, "training.log")) == verification_lines(os.path.join(reference, "training.log")),
              f"{label}: training.log's verification lines differ from the uninterrupted run's")
        for log in ["training.log", "metrics.csv"]:
            replayed = self.run(["replay", os.path.join(output, log), "--window", "4"])
            expected_replay = self.run(["replay", os.path.join(reference, log), "--window", "4"])
            check(replayed.returncode == 0, f"{label}: haarface replay {log} failed: {replayed.stderr}")
            if log == "metrics.csv":
                check(replayed.stdout == expected_replay.stdout, f"{label}: the replay of metrics.csv differs from the reference's")
        decisions = ", ".join(f"{event['step']}: {event['oldLR']:g} -> {event['newLR']:g}" for event in state["schedule"]["events"])
        return (f"model.safetensors and the checkpoint's backbone, head and optimizer bytes, metrics.csv's {self.steps} "
                f"losses and LRs, trainer.json's scheduler state and MHLR's {len(state['schedule']['events'])} decisions "
                f"(step {decisions}) and the verification lines equal the uninterrupted run's; training.log and "
                f"metrics.csv replay")

    # Kill

    def drill_kill(self):
        self.reference()
        rng = random.Random(self.seed)
        output = self.fresh_output("killed")
        # On purpose: inside the first / second checkpoint a resumed process writes, after its first file
        # (`files`) and between the two renames (`swap`); the other kills at a random step and delay.
        # The first kill is a timed one after the first checkpoint, so that there is always one to resume from.
        if self.quick:
            plan = [None, "files:1", "swap:1"]
        else:
            plan = [None] * 15 + ["files:1", "swap:1", "files:2", "swap:2"]
            rng.shuffle(plan)
            plan.insert(0, None)
        where_counts = {}
        from_previous = 0
        # Timed kills spread over the run, one in each slice of it, before its last steps (so that each kills
        # a live run).
        first_step, last_step = self.checkpoint_every + 2, self.steps - 4
        for index, fault in enumerate(plan):
            resume_step = self.checkpoint_step(output)
            from_previous += not os.path.isdir(os.path.join(output, "checkpoint")) and resume_step is not None
            arguments = (["train", "--resume", "--output", output] if resume_step is not None
                         else self.train_arguments(output))
            partial_before = self.partial_identity(output)
            environment = dict(os.environ)
            if fault:
                environment["HAARFACE_FAULT_KILL_IN_CHECKPOINT"] = fault
            process = subprocess.Popen([self.binary, *arguments], env=environment,
                                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            progress = Progress(process)
            if fault:
                process.wait()
                what = f"the fault point {fault}"
            else:
                slice_start = first_step + index * (last_step - first_step) // len(plan)
                slice_end = first_step + (index + 1) * (last_step - first_step) // len(plan)
                target = max(rng.randint(slice_start, max(slice_start, slice_end - 1)), (resume_step or 0) + 2)
                target = min(target, last_step)
                # Somewhere in the next step's time, as fast as the run goes now (checkpoints and verification
                # included where they fall): a delay in reference seconds could outlast a run on a freer machine.
                fraction = rng.random()
                step_seconds = progress.wait_for(target) or self.reference_seconds / self.steps / 4
                delay = fraction * step_seconds
                time.sleep(delay)
                process.send_signal(signal.SIGKILL)
                process.wait()
                what = f"step {target} logged + {1000 * delay:.0f} ms"
            stderr = progress.finish()
            check(process.returncode == -signal.SIGKILL,
                  f"kill {index + 1} ({what}): the run was not killed, it exited {process.returncode}: {stderr[-1500:]}")
            where = self.where_killed(output, partial_before)
            if fault:
                expected = "inside a checkpoint's write" if fault.startswith("files") else "between a checkpoint's renames"
                check(where.startswith(expected), f"kill {index + 1} ({what}): expected the run to die {expected}, "
                                                  f"the folder says {where}")
            where_counts[where.split(" (")[0]] = where_counts.get(where.split(" (")[0], 0) + 1
            say("tried", f"kill {index + 1:2}: {what}, at step {progress.step} (resumed from {resume_step or 0}): {where}")
        from_previous += not os.path.isdir(os.path.join(output, "checkpoint"))
        final = self.resume(output)
        check(final.returncode == 0, f"the last resume failed: {final.stderr[-2000:]}")
        say("held", f"{len(plan)} SIGKILLs ({', '.join(f'{count} {where}' for where, count in where_counts.items())}), "
                    f"{len(plan)} resumes ({from_previous} from checkpoint.previous, after a kill between the renames)")
        say("held", self.assert_matches_reference(output, "killed and resumed"))

    def checkpoint_step(self, output):
        for folder in ["checkpoint", "checkpoint.previous"]:
            path = os.path.join(output, folder, "trainer.json")
            if os.path.exists(path):
                with open(path) as file:
                    return json.load(file)["globalStep"]
        return None

    @staticmethod
    def partial_identity(output):
        try:
            status = os.stat(os.path.join(output, "checkpoint.partial"))
            return (status.st_ino, status.st_mtime_ns)
        except FileNotFoundError:
            return None

    def where_killed(self, output, partial_before):
        partial = os.path.join(output, "checkpoint.partial")
        has_current = os.path.isdir(os.path.join(output, "checkpoint"))
        has_previous = os.path.isdir(os.path.join(output, "checkpoint.previous"))
        if has_previous and not has_current:
            return "between a checkpoint's renames (checkpoint.previous only)"
        identity = self.partial_identity(output)
        if identity is not None and identity != partial_before:
            files = len(os.listdir(partial))
            return f"inside a checkpoint's write ({files} of {len(CHECKPOINT_FILES)} files in checkpoint.partial)"
        return "between checkpoints"


    # Disk full

    def drill_disk_full(self):
        self.reference()
        every = self.checkpoint_every
        # (fault, the step of the checkpoint the run must be left with)
        # A checkpoint file's N-th write is the N-th checkpoint's, and metrics.csv is flushed at each checkpoint;
        # where a training.log line falls depends on the lines before it.
        cases = [("head.safetensors:2", every), ("training.log:12", None), ("metrics.csv:2", every)]
        if not self.quick:   # the other checkpoint files, the last one written, later lines and flushes
            cases += [("backbone.safetensors:3", 2 * every), ("optimizer.safetensors:4", 3 * every),
                      ("trainer.json:5", 4 * every), ("manifest.txt:7", 6 * every), ("training.log:40", None),
                      ("metrics.csv:9", 8 * every)]
        for fault, kept_step in cases:
            output = self.fresh_output("enospc-" + fault.replace(":", "-"))
            failed = self.run(self.train_arguments(output), {"HAARFACE_FAULT_ENOSPC": fault})
            self.assert_stopped_for_space(output, failed, fault.split(":")[0], kept_step, f"ENOSPC at {fault}")
            resumed = self.resume(output)
            check(resumed.returncode == 0, f"ENOSPC at {fault}: the resume failed: {resumed.stderr[-2000:]}")
            self.assert_matches_reference(output, f"ENOSPC at {fault}, resumed")
            say("held", f"ENOSPC at {fault} (the write half done): the run stopped with "
                        f"'{self.last_error_line(failed)[:150]}...'; the checkpoint of step {self.kept} was intact, "
                        f"no checkpoint.partial, training.log and metrics.csv ended with whole lines and replayed, "
                        f"and the resumed run equals the uninterrupted one")
        if self.quick:
            say("skip", "tmpfs (the full drill fills a real one; the injected ENOSPC above goes through the same writes)")
        else:
            self.drill_tmpfs()

    kept = None

    def assert_stopped_for_space(self, output, failed, file_name, kept_step, label):
        check(failed.returncode == 1, f"{label}: expected exit 1 (an error), got {failed.returncode}: {failed.stderr[-1500:]}")
        message = self.last_error_line(failed)
        check(file_name in message and "No space left on device" in message,
              f"{label}: the error does not name {file_name} and 'No space left on device': {message}")
        check(not os.path.exists(os.path.join(output, "checkpoint.partial")), f"{label}: checkpoint.partial was left behind")
        self.kept = self.checkpoint_step(output)
        if kept_step is not None:
            check(self.kept == kept_step, f"{label}: expected the checkpoint of step {kept_step} to be kept, found {self.kept}")
        check(self.kept is not None, f"{label}: no checkpoint left to resume from")
        for log in ["training.log", "metrics.csv"]:
            check(ends_with_whole_line(os.path.join(output, log)), f"{label}: {log} ends with half a line")
            replayed = self.run(["replay", os.path.join(output, log), "--window", "4"])
            check(replayed.returncode == 0, f"{label}: haarface replay {log} failed: {replayed.stderr}")

    @staticmethod
    def last_error_line(result):
        lines = [line for line in result.stderr.split("\n") if line.strip()]
        return lines[-1] if lines else ""

    def drill_tmpfs(self):
        """A real full disk: the output folder on a tmpfs with room for one checkpoint and half a backbone file,
        so that the second checkpoint's write runs out of space; then the tmpfs is grown and the run resumed."""
        if os.geteuid() != 0:
            say("skip", "tmpfs: mounting needs root; the injected ENOSPC above goes through the same writes")
            return
        reference = self.reference()
        checkpoint_bytes = sum(os.path.getsize(os.path.join(reference, "checkpoint", name)) for name in CHECKPOINT_FILES)
        backbone_bytes = os.path.getsize(os.path.join(reference, "checkpoint", "backbone.safetensors"))
        mount_point = self.fresh_output("tmpfs")
        os.makedirs(mount_point)
        size = checkpoint_bytes + backbone_bytes // 2
        mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", mount_point],
                                 capture_output=True, text=True)
        if mounted.returncode != 0:
            say("skip", f"tmpfs: mount failed ({mounted.stderr.strip()}); the injected ENOSPC above goes through the same writes")
            return
        try:
            output = os.path.join(mount_point, "run")
            failed = self.run(self.train_arguments(output))
            self.assert_stopped_for_space(output, failed, "", None, f"a {size / 2**20:.0f} MiB tmpfs")
            message = self.last_error_line(failed)
            grown = subprocess.run(["mount", "-o", f"remount,size={4 * checkpoint_bytes}", mount_point], capture_output=True, text=True)
            check(grown.returncode == 0, f"cannot grow the tmpfs: {grown.stderr}")
            resumed = self.resume(output)
            check(resumed.returncode == 0, f"tmpfs: the resume after growing it failed: {resumed.stderr[-2000:]}")
            self.assert_matches_reference(output, "a full tmpfs, resumed")
            say("held", f"a {size / 2**20:.0f} MiB tmpfs filled up: '{message[:200]}...'; the checkpoint of step {self.kept} "
                        f"was intact and, once the tmpfs was grown, the resumed run equals the uninterrupted one")
        finally:
            subprocess.run(["umount", mount_point])

    # Corrupt checkpoints

    def drill_corrupt(self):
        rng = random.Random(self.seed + 1)
        output = self.fresh_output("corrupt")
        # A run stopped at step 8 by a NaN (no --skip-nonfinite), its checkpoint from step 5 (quick) or 4.
        stopped = self.run(self.train_arguments(output), {"HAARFACE_FAULT_NONFINITE_STEP": "8"})
        check(stopped.returncode == 1, f"the run to damage did not stop at its NaN: {stopped.stderr[-1500:]}")
        folder = os.path.join(output, "checkpoint")
        refusals = 0
        for name in CHECKPOINT_FILES:
            path = os.path.join(folder, name)
            with open(path, "rb") as file:
                original = file.read()
            size = len(original)
            damages = [("truncated to half", original[:size // 2])]
            offsets = [rng.randrange(size)] if self.quick else [0, size - 1, *rng.sample(range(1, size - 1), 3)]
            damages += [(f"byte {offset} flipped", original[:offset] + bytes([original[offset] ^ 0xFF]) + original[offset + 1:])
                        for offset in offsets]
            if not self.quick:
                damages += [("truncated to 0 bytes", b""), ("one byte short", original[:-1])]
            for what, damaged in damages:
                with open(path, "wb") as file:
                    file.write(damaged)
                before = folder_digest(output)
                refused = self.resume(output)
                after = folder_digest(output)
                message = self.last_error_line(refused)
                check(refused.returncode != 0, f"{name} {what}: --resume accepted it")
                check(path in message, f"{name} {what}: the error does not name the file: {message}")
                problem = "truncated" if "truncated" in what or "short" in what else "damaged"
                check(problem in message or name == "manifest.txt" and "damaged" in message,
                      f"{name} {what}: the error does not say '{problem}': {message}")
                check(before == after, f"{name} {what}: the refused --resume changed the output folder: "
                                       f"{sorted(set(before.items()) ^ set(after.items()))}")
                refusals += 1
                say("held", f"{name} {what}: refused, folder unchanged: {message.split(': ', 1)[1][:110]}")
            with open(path, "wb") as file:
                file.write(original)
        # The logs a resume cuts back must still reach the checkpoint's sizes.
        log = os.path.join(output, "training.log")
        with open(log, "rb") as file:
            original = file.read()
        with open(log, "wb") as file:
            file.write(original[:100])
        before = folder_digest(output)
        refused = self.resume(output)
        check(refused.returncode != 0 and log in self.last_error_line(refused) and before == folder_digest(output),
              f"a training.log shorter than the checkpoint saw was not refused cleanly: {self.last_error_line(refused)}")
        with open(log, "wb") as file:
            file.write(original)
        say("held", f"training.log cut below the checkpoint's size: refused, folder unchanged ({refusals + 1} refusals in all)")

        # A checkpoint from before manifests: accepted, with a note, and it resumes exactly.
        os.remove(os.path.join(folder, "manifest.txt"))
        resumed = self.resume(output)
        check(resumed.returncode == 0, f"a checkpoint without manifest.txt was refused: {resumed.stderr[-1500:]}")
        with open(log) as file:
            notes = [line for line in file if "has no manifest.txt" in line]
        check(len(notes) == 1, "training.log has no note that the checkpoint had no manifest")
        held = self.assert_matches_reference(output, "resumed from a checkpoint without a manifest")
        say("held", f"a checkpoint without manifest.txt (before checksums): resumed with the note "
                    f"'{notes[0].split('-', 3)[-1].strip()[:100]}...'; {held[:60]}...")

    # NaN

    def drill_nan(self):
        output = self.fresh_output("nan")
        # One injected step per process: the full drill stops the run inside a checkpoint after each NaN and
        # resumes it with the next, so that the checkpoints written after every NaN are looked at too.
        nan_steps = [7] if self.quick else [7, 26, 53]
        looked_at = []
        every = self.checkpoint_every
        for index, step in enumerate(nan_steps):
            environment = {"HAARFACE_FAULT_NONFINITE_STEP": str(step)}
            last = index == len(nan_steps) - 1
            if not last:
                # Killed inside the checkpoint after the first one that follows the NaN, which stays as checkpoint/.
                after_nan = -(-step // every) * every
                number = (after_nan + every - self.checkpoint_step_or_zero(output)) // every
                environment["HAARFACE_FAULT_KILL_IN_CHECKPOINT"] = f"files:{number}"
            arguments = ["train", "--resume", "--output", output] if index > 0 else self.train_arguments(output, ["--skip-nonfinite"])
            result = self.run(arguments, environment)
            if last:
                check(result.returncode == 0, f"the run with NaNs at {nan_steps} did not finish: {result.stderr[-1500:]}")
            else:
                check(result.returncode == -signal.SIGKILL, f"the run was not stopped after the NaN at {step}: {result.stderr[-1500:]}")
                check(self.checkpoint_step_or_zero(output) >= step, f"no checkpoint after the NaN at step {step}")
            for name in ["backbone.safetensors", "head.safetensors", "optimizer.safetensors"]:
                bad = non_finite_tensors(os.path.join(output, "checkpoint", name))
                check(not bad, f"checkpoint/{name} after the NaN at step {step} has non-finite values in {bad[:5]}")
            looked_at.append(self.checkpoint_step_or_zero(output))
        bad = non_finite_tensors(os.path.join(output, "model.safetensors"))
        check(not bad, f"model.safetensors has non-finite values in {bad[:5]}")
        count = len(nan_steps)
        with open(os.path.join(output, "training.log")) as file:
            log = file.read()
        for number, step in enumerate(nan_steps, 1):
            check(f"-step {step}: the loss is nan; step skipped ({number} so far)" in log,
                  f"training.log does not say that step {step} was skipped ({number} so far)")
        with open(os.path.join(output, "report.md")) as file:
            check(f"| skipped non-finite steps | {count} |" in file.read(), f"report.md does not count {count} skipped steps")
        with open(os.path.join(output, "summary.json")) as file:
            summary = json.load(file)
        check(summary["skippedNonFiniteSteps"] == count and summary["steps"] == self.steps,
              f"summary.json: {summary['skippedNonFiniteSteps']} skipped of {summary['steps']} steps")
        accuracies = re.findall(r"\]Accuracy-Flip: ([0-9.]+)\+-", log)
        check(len(accuracies) == self.epochs, f"expected {self.epochs} verifications, training.log has {len(accuracies)}")
        replayed = self.run(["replay", os.path.join(output, "training.log"), "--window", "4"])
        check(replayed.returncode == 0, f"haarface replay training.log failed: {replayed.stderr}")
        say("tried", f"NaN pixels at steps {nan_steps} with --skip-nonfinite"
                     + ("" if self.quick else ", the run stopped in a checkpoint after each and resumed"))
        say("held", f"the run finished {self.steps} steps; {count} skipped in training.log, report.md and summary.json; "
                    f"no NaN or infinity in the checkpoints of steps {looked_at} or model.safetensors; "
                    f"{len(accuracies)} verifications ({', '.join(accuracies)}) and the log's replay ran")

    def checkpoint_step_or_zero(self, output):
        return self.checkpoint_step(output) or 0


class Progress:
    """The steps a running `haarface train` has logged, read from the training.log lines it echoes on standard
    output (training.log itself still holds a killed run's lines until the resumed one cuts them off)."""

    def __init__(self, process):
        self.process = process
        self.step = 0
        self.step_seconds = None   # how long the last logged step took, as seen here
        self.changed = threading.Condition()
        self.stderr = ""
        self.readers = [threading.Thread(target=self.read_steps), threading.Thread(target=self.read_errors)]
        for reader in self.readers:
            reader.start()

    def read_steps(self):
        last_at = None
        for line in self.process.stdout:
            match = re.search(r"Global Step: (\d+)", line)
            if match:
                now = time.monotonic()
                with self.changed:
                    step = int(match.group(1))
                    if last_at is not None and step > self.step:
                        self.step_seconds = (now - last_at) / (step - self.step)
                    self.step, last_at = step, now
                    self.changed.notify_all()
        with self.changed:
            self.changed.notify_all()

    def read_errors(self):
        self.stderr = self.process.stderr.read()

    def wait_for(self, step):
        """Waits until the run has logged `step`; returns the seconds its last step took (None if unknown)."""
        deadline = time.monotonic() + 600
        with self.changed:
            while self.step < step:
                if self.process.poll() is not None:
                    raise DrillFailure(f"the run ended (exit {self.process.returncode}) before step {step}")
                check(time.monotonic() < deadline, f"the run did not reach step {step} in 10 minutes")
                self.changed.wait(timeout=0.5)
            return self.step_seconds

    def finish(self):
        """After the process has ended: its standard error."""
        for reader in self.readers:
            reader.join()
        return self.stderr


DRILLS = {"kill": Drills.drill_kill, "disk-full": Drills.drill_disk_full, "corrupt": Drills.drill_corrupt, "nan": Drills.drill_nan}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("drills", nargs="*", metavar="DRILL", help=f"which drills to run ({', '.join(DRILLS)}; default all)")
    parser.add_argument("--quick", action="store_true", help="fewer kills, damages and faults (what make test runs)")
    parser.add_argument("--binary", default=".build/release/haarface")
    parser.add_argument("--seed", type=int, default=14)
    parser.add_argument("--work", help="a folder for the runs, kept afterwards; its data and reference run are reused "
                                       "(default: a temporary folder, removed when every drill held)")
    options = parser.parse_args()
    names = options.drills or list(DRILLS)
    unknown = [name for name in names if name not in DRILLS]
    if unknown:
        parser.error(f"unknown drill {', '.join(unknown)}: expected {', '.join(DRILLS)}")
    work = options.work or tempfile.mkdtemp(prefix="haarface-drills-")
    os.makedirs(work, exist_ok=True)
    started = time.monotonic()
    try:
        drills = Drills(options.binary, work, options.quick, options.seed)
        for name in names:
            print(f"== {name}{' (quick)' if options.quick else ''}", flush=True)
            start = time.monotonic()
            DRILLS[name](drills)
            print(f"   passed in {time.monotonic() - start:.0f} s", flush=True)
    except DrillFailure as failure:
        print(f"FAILED: {failure}", flush=True)
        print(f"(work folder kept: {work})")
        sys.exit(1)
    if not options.work:
        shutil.rmtree(work, ignore_errors=True)
    print(f"all drills held ({', '.join(names)}) in {time.monotonic() - started:.0f} s")


if __name__ == "__main__":
    main()
