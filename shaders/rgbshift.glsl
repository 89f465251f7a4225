#version 330 core
// Chromatic split that kicks out on onsets: red and blue sampled apart along the radius.
in vec2 v_uv;
out vec4 f_color;

uniform sampler2D u_image;
uniform float u_onset;
uniform float u_high;
uniform float u_amount = 1.0; // @param 0..1 how strong the effect is

void main() {
    vec2 dir = (v_uv - 0.5) * u_amount * (0.012 + 0.03 * u_onset + 0.02 * u_high);
    float r = texture(u_image, v_uv + dir).r;
    float g = texture(u_image, v_uv).g;
    float b = texture(u_image, v_uv - dir).b;
    f_color = vec4(r, g, b, 1.0);
}
