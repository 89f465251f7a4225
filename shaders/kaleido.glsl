#version 330 core
// Kaleidoscope: folds the picture into u_segments mirrored slices that turn once per bar.
in vec2 v_uv;
out vec4 f_color;

uniform sampler2D u_image;
uniform float u_bar_phase;
uniform float u_segments = 6.0; // @param 1..16 mirrored slices around the centre
uniform float u_amount = 1.0; // @param 0..1 how strong the effect is

const float TAU = 6.28318530718;

void main() {
    vec2 p = v_uv - 0.5;
    float angle = atan(p.y, p.x) + TAU * u_bar_phase / u_segments;
    float slice = TAU / max(u_segments, 1.0);
    angle = abs(mod(angle, slice) - 0.5 * slice);
    vec2 folded = 0.5 + length(p) * vec2(cos(angle), sin(angle));
    f_color = vec4(mix(texture(u_image, v_uv).rgb, texture(u_image, folded).rgb, u_amount), 1.0);
}
