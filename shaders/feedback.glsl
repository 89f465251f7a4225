#version 330 core
// Trails: mixes in the previous output frame (u_feedback), faded and slightly zoomed so trails
// stream outwards; the brighter of picture and trail wins, so the picture itself stays whole.
// The beat cuts the trails back so each kick lands clean.
in vec2 v_uv;
out vec4 f_color;

uniform sampler2D u_image;
uniform sampler2D u_feedback;  // the last output frame, bound by the renderer
uniform float u_pulse;
uniform float u_low;
uniform float u_decay = 0.9; // @param 0..0.98 how much of the previous frame stays (trail length)
uniform float u_drift = 0.03; // @param 0..0.1 zoom of the trails per frame (outward streaming)

void main() {
    vec2 fb_uv = 0.5 + (v_uv - 0.5) * (1.0 - u_drift * (0.5 + u_low));
    float keep = u_decay * (1.0 - 0.5 * u_pulse);
    vec3 image = texture(u_image, v_uv).rgb;
    vec3 trail = texture(u_feedback, fb_uv).rgb;
    f_color = vec4(max(image, trail * keep), 1.0);
}
