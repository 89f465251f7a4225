#version 330 core
// Vignette: darkens the edges; the bright middle breathes with the low band.
in vec2 v_uv;
out vec4 f_color;

uniform sampler2D u_image;
uniform vec2 u_resolution;
uniform float u_low;
uniform float u_amount = 0.85;  // @param 0..1 how dark the edges get
uniform float u_radius = 0.35;  // @param 0.1..1.5 radius of the bright middle (1 = the corners)
uniform float u_softness = 0.6; // @param 0.05..1 width of the fade from middle to edge
uniform float u_breathe = 0.15; // @param 0..0.5 how much the low band widens the middle

void main() {
    vec2 p = (v_uv - 0.5) * vec2(u_resolution.x / max(u_resolution.y, 1.0), 1.0);
    float corner = length(vec2(0.5 * u_resolution.x / max(u_resolution.y, 1.0), 0.5));
    float r = length(p) / corner;
    float inner = u_radius + u_breathe * u_low;
    float shade = smoothstep(inner, inner + u_softness, r);
    f_color = vec4(texture(u_image, v_uv).rgb * (1.0 - u_amount * shade), 1.0);
}
