// The Plots layer: see Package.swift for its place in the stack.
