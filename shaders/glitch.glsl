#version 330 core
// Glitch: horizontal slices jump sideways on onsets and with the high band, with a colour
// split inside the displaced slices. Three texture reads a pixel.
in vec2 v_uv;
out vec4 f_color;

uniform sampler2D u_image;
uniform float u_time;
uniform float u_onset;
uniform float u_high;
uniform float u_amount = 0.5;  // @param 0..1 how strong the effect is
uniform float u_slices = 24.0; // @param 2..128 horizontal slices over the height

float hash(float n) { return fract(sin(n * 12.9898) * 43758.5453); }

void main() {
    float row = floor(v_uv.y * u_slices);
    float tick = floor(u_time * 12.0);  // new slice pattern 12 times a second
    float r = hash(row + 37.0 * tick);
    float hit = step(1.0 - (0.1 + 0.6 * u_onset + 0.5 * u_high), r);
    float shift = u_amount * hit * (hash(row * 3.1 + tick) - 0.5) * 0.25;
    vec2 uv = vec2(v_uv.x + shift, v_uv.y);
    float split = 0.02 * u_amount * hit;
    f_color = vec4(texture(u_image, uv + vec2(split, 0.0)).r, texture(u_image, uv).g,
                   texture(u_image, uv - vec2(split, 0.0)).b, 1.0);
}
