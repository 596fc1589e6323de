// The Engine layer: see Package.swift for its place in the stack.
