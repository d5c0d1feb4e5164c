"""Where steps live: session refs, step commits and their lookup, snapshots of the working tree, locks."""
