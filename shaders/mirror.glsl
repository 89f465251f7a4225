#version 330 core
// Mirror: one half of the picture reflected onto the other across an axis through the centre
// that turns slowly through the bar.
in vec2 v_uv;
out vec4 f_color;

uniform sampler2D u_image;
uniform float u_bar_phase;
uniform float u_amount = 1.0; // @param 0..1 how strong the effect is
uniform float u_angle = 0.25; // @param 0..1 direction of the mirror axis, in turns (0.25 = vertical)
uniform float u_spin = 0.125; // @param 0..1 how far the axis turns over one bar, in turns

const float TAU = 6.28318530718;

void main() {
    float a = TAU * (u_angle + u_spin * u_bar_phase);
    vec2 normal = vec2(-sin(a), cos(a));
    vec2 p = v_uv - 0.5;
    float side = dot(p, normal);
    vec2 folded = 0.5 + p - 2.0 * min(side, 0.0) * normal;  // reflect the far half onto the near one
    f_color = vec4(mix(texture(u_image, v_uv).rgb, texture(u_image, folded).rgb, u_amount), 1.0);
}
