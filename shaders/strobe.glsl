#version 330 core
// Strobe: a white flash locked to the beat grid (u_rate flashes a beat), brighter when the
// music is loud. The show's flash limiter tames it on the final output.
in vec2 v_uv;
out vec4 f_color;

uniform sampler2D u_image;
uniform float u_beat_phase;
uniform float u_level;
uniform float u_amount = 0.8; // @param 0..1 how bright the flash is
uniform float u_rate = 1.0;   // @param 0.25..4 flashes per beat (0.25 = once a bar)
uniform float u_width = 0.1;  // @param 0.01..0.5 how long a flash lasts, as a fraction of its period

void main() {
    float since = fract(u_beat_phase * u_rate);  // 0 at each flash
    float flash = u_amount * (0.5 + 0.5 * u_level) * exp(-since / u_width);
    f_color = vec4(mix(texture(u_image, v_uv).rgb, vec3(1.0), clamp(flash, 0.0, 1.0)), 1.0);
}
