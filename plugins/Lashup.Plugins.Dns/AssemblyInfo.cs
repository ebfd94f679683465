using System.Runtime.CompilerServices;

// Stack buffers on the query path (names, label tables) are always written before they are read; zeroing them per
// query is wasted work.
[module: SkipLocalsInit]
