"""Control: the one command table, and the OSC and MIDI front ends that put validated commands on
the show's bounded queue."""
