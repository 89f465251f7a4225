#version 330 core
// Strobe: a crisp white hit on one frame, locked to the beat grid. At most one hit a beat
// (u_rate 1), every other beat (0.5) or once a bar (0.25), and never more than 2.8 a second
// whatever the tempo: a fast tempo hits every 2nd or 4th beat instead (on the downbeat). Each
// hit is the one frame whose time on screen holds its beat, and the next frame is the picture
// again, so every hit is one whole frame at any frame rate: no grey wash, no uneven stutter,
// and the strobe keeps to the flash budget (3 a second) by itself.
in vec2 v_uv;
out vec4 f_color;

uniform sampler2D u_image;
uniform float u_beat_phase;
uniform float u_bar_phase;
uniform float u_bpm;
uniform float u_frame;
uniform float u_amount = 1.0; // @param 0..1 how white the hit is (1: white)
uniform float u_rate = 1.0;   // @param 0.25..1 hits a beat at most (0.5: every other beat, 0.25: once a bar)

const float MAX_HITS_PER_S = 2.8;  // under WCAG's 3 flashes a second, with room for frame rounding
// A frame owns the beats from a little after its start to a little after its end, so a beat on
// a frame boundary (common: 120 BPM at 30 fps) is owned by one frame, not split by rounding.
const float SHIFT = 0.03;

void main() {
    vec3 picture = texture(u_image, v_uv).rgb;
    float beat_s = 60.0 / max(u_bpm, 1.0);
    float phase = fract(u_beat_phase);
    float lo = (0.5 - SHIFT) * u_frame;  // this frame's window around its middle (the uniforms' time)
    float since = phase * beat_s;  // seconds from the last beat to the middle of this frame
    bool next = since > lo;  // the last beat is older than the window: only the next one can be in it
    bool in_window = !next || (1.0 - phase) * beat_s < u_frame - lo;
    float beat = mod(floor(u_bar_phase * 4.0 - phase + 0.5) + (next ? 1.0 : 0.0), 4.0);  // its beat in the bar
    float wanted = max(1.0 / max(u_rate, 0.25), u_bpm / (60.0 * MAX_HITS_PER_S));
    float every = wanted <= 1.0 ? 1.0 : wanted <= 2.0 ? 2.0 : 4.0;  // beats between hits, so hits stay on the bar
    bool hit = u_bpm >= 1.0 && in_window && u_bpm / every <= 60.0 * MAX_HITS_PER_S && mod(beat, every) < 0.5;
    f_color = vec4(hit ? mix(picture, vec3(1.0), u_amount) : picture, 1.0);
}
