"""Going back in time: a step checked out, rewound, bisected, blamed or resumed."""
